// The operator's dashboard in a real browser (issue 15): Debian's Chromium, headless, on a laptop-
// sized screen. It opens the page, waits for the figures the roles tell, and checks the payment
// count and the money in circulation it was given, the charts drawn as SVG, and that the page
// fetched nothing from elsewhere nor broke its own Content-Security-Policy; a screenshot.
//   node dashboard.mjs PAGE_URL PAYMENTS IN_CIRCULATION SCREENSHOT_DIR
import { fail, open } from './browser.mjs';

const [pageUrl, payments, circulation, shots] = process.argv.slice(2);
const { browser, page, outside, errors } = await open(pageUrl, { width: 1280, height: 900 }, shots);
try {
  const text = async (sel) => (await page.textContent(sel)).trim();
  await page.waitForFunction(() => document.getElementById('in-circulation').textContent.includes(':'), null,
    { timeout: 15000 }).catch(() => fail('the figures never came'));
  if ((await text('#payments')) !== payments) fail(`payments ${await text('#payments')}, not ${payments}`);
  if ((await text('#in-circulation')) !== circulation) {
    fail(`in circulation ${await text('#in-circulation')}, not ${circulation}`);
  }
  if (!(await text('#balanced')).startsWith('balanced')) fail(`the books: ${await text('#balanced')}`);
  if ((await text('#open-sagas')) !== '0') fail(`open sagas ${await text('#open-sagas')}`);
  if ((await text('#payouts-pending')) !== '0') fail(`payouts pending ${await text('#payouts-pending')}`);
  if (!(await text('#disclosure-log')).startsWith('verified')) fail(`disclosure log: ${await text('#disclosure-log')}`);
  if (!(await text('#roles')).includes('clearing: answering')) fail(`roles: ${await text('#roles')}`);
  // A second round of figures, so that the chart has a line.
  await page.waitForFunction(() => {
    const line = document.querySelector('#circulation-chart svg path.line');
    return line && line.getAttribute('d').includes('L');
  }, null, { timeout: 15000 })
    .catch(() => fail('no chart of the circulation'));
  const chart = await page.$('#circulation-chart svg');
  const box = await chart.boundingBox();
  if (!box || box.width < 300) fail(`the chart is ${box && box.width} px wide`);
  const labels = await page.$$eval('#circulation-chart svg text', (t) => t.map((e) => e.textContent));
  if (!labels.includes(circulation)) fail(`the chart's scale says ${labels.join(', ')}, not ${circulation}`);
  await page.screenshot({ path: `${shots}/dashboard.png`, fullPage: true });
  if (outside.length > 0) fail(`the page fetched from elsewhere: ${outside.join(' ')}`);
  if (errors.length > 0) fail(`the page logged errors: ${errors.join(' | ')}`);
  console.log(`ok: ${payments} payments, ${circulation} in circulation; screenshot in ${shots}/dashboard.png`);
} finally {
  await browser.close();
}
