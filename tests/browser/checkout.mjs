// The checkout page in a real browser (issue 14): Debian's Chromium, headless, on a phone-sized
// screen. It opens the page, reads the payment request from it, pays it with `ecash wallet pay`,
// and sees the page turn to "paid" by itself; a screenshot of each state.
//   node checkout.mjs PAGE_URL ECASH WALLET_HOME SCREENSHOT_DIR
import { execFileSync } from 'node:child_process';
import { fail, open } from './browser.mjs';

const [pageUrl, ecash, walletHome, shots] = process.argv.slice(2);
const { browser, page, outside } = await open(pageUrl, { width: 390, height: 844 }, shots);
try {
  const text = async (sel) => (await page.textContent(sel)).trim();
  if ((await text('#amount')) !== 'EUR:12.50') fail(`amount ${await text('#amount')}`);
  if ((await text('#item')) !== 'a blue mug') fail(`article ${await text('#item')}`);
  if ((await page.getAttribute('#state', 'data-state')) !== 'unpaid') fail('not waiting for payment');
  if ((await text('#state')) !== 'Waiting for payment') fail(`status says ${await text('#state')}`);
  const qr = await page.$('#qr svg');
  if (!qr) fail('no QR code');
  const box = await qr.boundingBox();
  if (!box || box.width < 200) fail(`the QR code is ${box && box.width} px wide`);
  // Usable with a keyboard: the first Tab reaches the payment link.
  await page.keyboard.press('Tab');
  if ((await page.evaluate(() => document.activeElement && document.activeElement.id)) !== 'request') {
    fail('Tab does not reach the payment link');
  }
  const request = await page.getAttribute('#request', 'href');
  if (!request || !request.startsWith('ecash://pay?')) fail(`the link is ${request}`);
  await page.screenshot({ path: `${shots}/checkout-unpaid.png`, fullPage: true });

  // The customer's wallet pays the request read from the page.
  const said = execFileSync(ecash, ['wallet', '--home', walletHome, 'pay', '--yes', request], { encoding: 'utf8' });
  if (!said.includes('paid EUR:12.50')) fail(`wallet pay said ${said}`);
  await page.waitForFunction(() => document.getElementById('state').dataset.state === 'paid', null, { timeout: 15000 })
    .catch(() => fail('the page did not turn to paid'));
  if ((await text('#state')) !== 'Paid. Thank you!') fail(`status says ${await text('#state')}`);
  if (await page.$('#pay')) fail('a paid order still shows its QR code and link');
  await page.screenshot({ path: `${shots}/checkout-paid.png`, fullPage: true });
  if (outside.length > 0) fail(`the page fetched from elsewhere: ${outside.join(' ')}`);
  console.log(`ok: screenshots in ${shots}`);
} finally {
  await browser.close();
}
