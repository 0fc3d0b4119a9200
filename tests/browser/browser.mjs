// What the browser tests share: Debian's Chromium, headless, opening a page of ours while noting
// every request it makes to another origin and every error it logs.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';

export const fail = (why) => { console.error(`FAILED: ${why}`); process.exit(1); };

// Opens pageUrl on a screen of `viewport` (and makes the folder shots): {browser, page, outside,
// errors}, outside the URLs it fetched from elsewhere, errors what it logged as errors. The
// caller closes the browser.
export async function open(pageUrl, viewport, shots) {
  mkdirSync(shots, { recursive: true });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox'],  // as root, in a test
  });
  const page = await browser.newPage({ viewport });
  const outside = [];
  const errors = [];
  page.on('request', (r) => { if (!r.url().startsWith(new URL(pageUrl).origin)) outside.push(r.url()); });
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  const response = await page.goto(pageUrl);
  if (response.status() !== 200) {
    await browser.close();
    fail(`the page answered ${response.status()}`);
  }
  return { browser, page, outside, errors };
}
