// The operator's dashboard with its bank stopped (issue 15), in Debian's Chromium, headless: the
// bank's figures show as unknown, never as zero nor as the last ones seen, and the roles list
// names the bank unreachable; a screenshot.
//   node dashboard_down.mjs PAGE_URL SCREENSHOT_DIR
import { fail, open } from './browser.mjs';

const [pageUrl, shots] = process.argv.slice(2);
const { browser, page, errors } = await open(pageUrl, { width: 1280, height: 900 }, shots);
try {
  const text = async (sel) => (await page.textContent(sel)).trim();
  await page.waitForFunction(() => document.getElementById('cases').textContent.includes('unknown'), null,
    { timeout: 15000 }).catch(async () => fail(`the cases say: ${await text('#cases')}`));
  for (const id of ['#payments', '#in-circulation', '#open-cases']) {
    if ((await text(id)) !== '?') fail(`${id} says ${await text(id)} with the bank stopped`);
  }
  if (!(await text('#balanced')).startsWith('unknown: the bank does not answer')) fail(`the books: ${await text('#balanced')}`);
  if (!(await text('#where')).includes('unknown')) fail(`where the money is: ${await text('#where')}`);
  if (!(await text('#roles')).includes('bank: unreachable')) fail(`roles: ${await text('#roles')}`);
  if (!(await text('#roles')).includes('center: answering')) fail(`roles: ${await text('#roles')}`);
  await page.screenshot({ path: `${shots}/dashboard-bank-down.png`, fullPage: true });
  if (errors.length > 0) fail(`the page logged errors: ${errors.join(' | ')}`);
  console.log(`ok: with the bank stopped its figures show as unknown; screenshot in ${shots}/dashboard-bank-down.png`);
} finally {
  await browser.close();
}
