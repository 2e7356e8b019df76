// Ferry's status page in Debian's headless Chromium, driven by playwright-core. Run by
// controller/ferry/tests/status_page.rs, which starts `ferry run` with one healthy service and
// one environment stalled on a broken manifest, and passes STATUS_URL and SHOT_DIR.
// Exit code 0 means every check held.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const STATUS_URL = process.env.STATUS_URL;
const SHOT_DIR = process.env.SHOT_DIR;
if (!STATUS_URL || !SHOT_DIR) throw new Error('STATUS_URL and SHOT_DIR must be set');
mkdirSync(SHOT_DIR, { recursive: true });

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
let exitCode = 1;
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
  page.on('pageerror', (e) => problems.push(String(e)));
  await page.goto(STATUS_URL, { waitUntil: 'load' });
  const title = await page.title();
  if (title !== 'Ferry status') throw new Error(`title is ${JSON.stringify(title)}`);

  const healthy = page.locator('#env-ok ~ table tr.resource[data-name="w"][data-health="Healthy"]').first();
  await healthy.waitFor({ timeout: 10000 });
  const stalled = await page.locator('#env-broken ~ ul').first().innerText();
  if (!stalled.includes('Stalled')) throw new Error(`the broken environment does not show Stalled: ${stalled}`);
  const errors = await page.locator('#env-broken ~ ul.errors').first().innerText();
  if (!/base-bad\/bad\.yaml:\d+: spec\.replicas/.test(errors)) throw new Error(`no file:line error shown: ${errors}`);

  // The page refreshes itself: after a reload it still renders (no blank page, no script errors).
  await page.waitForTimeout(2500);
  await healthy.waitFor({ timeout: 10000 });
  await page.screenshot({ path: join(SHOT_DIR, 'ferry-status.png'), fullPage: true });
  if (problems.length) throw new Error(`console errors: ${problems.join(' | ')}`);
  console.log('status page ok');
  exitCode = 0;
} catch (e) {
  console.error(e.stack || String(e));
} finally {
  await browser.close();
}
process.exit(exitCode);
