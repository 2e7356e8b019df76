// End-to-end walk through the numbers app in Debian's headless Chromium, driven by
// playwright-core. Run by services/frontend/tests/e2e.rs, which starts api + frontend + proxy
// and passes BASE_URL (the proxy) and SHOT_DIR. Exit code 0 means every step held.
//
// To stop and restart the API mid-run, the script prints `STEP stop-api` / `STEP start-api`
// on stdout and waits for a line `ok` on stdin.

import { createInterface } from 'node:readline';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const BASE_URL = process.env.BASE_URL;
const SHOT_DIR = process.env.SHOT_DIR;
if (!BASE_URL || !SHOT_DIR) throw new Error('BASE_URL and SHOT_DIR must be set');
mkdirSync(SHOT_DIR, { recursive: true });

const stdin = createInterface({ input: process.stdin });
const lines = stdin[Symbol.asyncIterator]();
async function step(name) {
  console.log(`STEP ${name}`);
  const { value, done } = await lines.next();
  if (done || value.trim() !== 'ok') throw new Error(`the test harness did not confirm ${name}: ${value}`);
}

function log(message) {
  console.log(`# ${message}`);
}

async function until(what, probe, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await probe();
      if (last === true) return;
    } catch (e) {
      last = e.message;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function assertEq(actual, expected, what) {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
let exitCode = 1;
try {
  const context = await browser.newContext({ viewport: { width: 1100, height: 1000 }, locale: 'en-US' });
  const page = await context.newPage();
  const problems = [];
  let expectProblems = false;
  page.on('console', (m) => {
    if (m.type() === 'error' && !expectProblems) problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));

  const stat = (name) => page.locator(`[data-stat="${name}"]`).textContent();
  const stats = async () => ({
    count: await stat('count'), sum: await stat('sum'), min: await stat('min'),
    max: await stat('max'), mean: await stat('mean'),
  });
  const listValues = () => page.locator('#list li .value').allTextContents();
  const input = page.getByLabel('Number', { exact: true });
  const alert = page.getByRole('alert');
  const fieldError = page.locator('#value-error');

  log('open the app through the proxy');
  const response = await page.goto(BASE_URL);
  assertEq(response.status(), 200, 'status of the page');
  await until('statistics of an empty store', async () => (await stat('count')) === '0');
  await until('the empty-list message', () => page.locator('#empty').isVisible());
  assertEq(await alert.isVisible(), false, 'alert on a healthy start');

  log('invalid input is refused inline and stores nothing');
  for (const [typed, message] of [
    ['', 'Enter a number.'],
    ['12.5', 'Whole numbers only'],
    ['abc', 'Whole numbers only'],
    ['99999999999999999999', 'Out of range'],
  ]) {
    await input.fill(typed);
    await input.press('Enter');
    await until(`the message for ${JSON.stringify(typed)}`, async () => (await fieldError.textContent()).includes(message));
    assertEq(await input.getAttribute('aria-invalid'), 'true', `aria-invalid for ${typed}`);
  }
  await input.fill('7');
  await until('the message to clear while typing a valid number', async () => (await fieldError.textContent()) === '');
  await input.fill('');
  assertEq(await stat('count'), '0', 'count after refused input');

  log('store twelve numbers with the keyboard');
  const values = [5, -3, 12, 7, 0, 42, 8, 15, -20, 9, 11, 100];
  for (const v of values) {
    await input.fill(String(v));
    await input.press('Enter');
    await until(`${v} at the top of the list`, async () => (await listValues())[0] === String(v));
    await until('the field to clear', async () => (await input.inputValue()) === '');
  }
  await until('statistics of twelve numbers', async () => (await stat('count')) === '12');
  assertEq(await stats(), { count: '12', sum: '186', min: '-20', max: '100', mean: '15.5' }, 'statistics');
  assertEq(await page.locator('#chart rect.bar').count(), 12, 'bars in the chart');
  assertEq(await page.locator('#chart rect.bar.negative').count(), 2, 'negative bars');

  log('exact 64-bit values survive the round trip');
  await input.fill('9223372036854775807');
  await input.press('Enter');
  await until('int64 max at the top', async () => (await listValues())[0] === '9223372036854775807');
  await until('statistics with int64 max', async () => (await stat('max')) === '9223372036854775807');
  assertEq(await stat('sum'), '9223372036854775993', 'exact sum beyond 2^63');
  await page.getByRole('button', { name: 'Delete 9223372036854775807' }).click();
  await until('int64 max to be gone', async () => (await stat('count')) === '12');

  log('the list pages with "Load more" (after a reload, the list comes from the server)');
  await page.reload();
  await until('statistics after reload', async () => (await stat('count')) === '12');
  await until('the first page', async () => (await listValues()).length === 10);
  assertEq(await listValues(), ['100', '11', '9', '-20', '15', '8', '42', '0', '7', '12'], 'first page, newest first');
  const more = page.getByRole('button', { name: 'Load more' });
  await more.click();
  await until('the second page', async () => (await listValues()).length === 12);
  assertEq((await listValues()).slice(10), ['-3', '5'], 'second page');
  await until('"Load more" to hide on the last page', async () => !(await more.isVisible()));

  log('delete one');
  await page.getByRole('button', { name: 'Delete 42' }).click();
  await until('42 to leave the list', async () => !(await listValues()).includes('42'));
  await until('statistics without 42', async () => (await stat('count')) === '11');
  assertEq(await stats(), { count: '11', sum: '144', min: '-20', max: '100', mean: '13.09' }, 'statistics after delete');
  assertEq(await page.locator('#chart rect.bar').count(), 11, 'bars after delete');
  const focused = await page.evaluate(() => document.activeElement?.getAttribute('aria-label'));
  if (!focused || !focused.startsWith('Delete ')) throw new Error(`focus after delete went to ${focused}`);

  log('keyboard: Tab from the field reaches the Store button');
  await input.focus();
  await page.keyboard.press('Tab');
  assertEq(await page.evaluate(() => document.activeElement?.id), 'add', 'focus after Tab');

  await page.screenshot({ path: join(SHOT_DIR, 'numbers-main.png'), fullPage: true });

  log('readable at phone width (no sideways scrolling)');
  await page.setViewportSize({ width: 360, height: 780 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  if (overflow > 0) throw new Error(`the page scrolls sideways by ${overflow}px at 360px`);
  await page.screenshot({ path: join(SHOT_DIR, 'numbers-phone.png'), fullPage: true });
  await page.setViewportSize({ width: 1100, height: 1000 });

  if (problems.length) throw new Error(`browser errors on a healthy run:\n${problems.join('\n')}`);

  log('the API goes down: storing shows the outage and keeps the input');
  await step('stop-api');
  expectProblems = true;
  await input.fill('77');
  await input.press('Enter');
  await until('the outage alert', () => alert.isVisible());
  const outage = await alert.textContent();
  if (!/unavailable/i.test(outage)) throw new Error(`unexpected outage message: ${outage}`);
  assertEq(await input.inputValue(), '77', 'input kept after a failed store');
  await page.getByRole('button', { name: 'Retry' }).waitFor({ state: 'visible' });

  log('a reload during the outage shows the message, not a blank page');
  await page.reload();
  await until('the outage alert after reload', () => alert.isVisible());
  assertEq(await page.getByRole('heading', { name: 'Numbers', level: 1 }).isVisible(), true, 'page heading');
  assertEq(await stat('count'), '–', 'count while unknown');
  assertEq(await page.locator('#empty').textContent(), 'The numbers could not be loaded.', 'list message during the outage');
  await page.screenshot({ path: join(SHOT_DIR, 'numbers-outage.png'), fullPage: true });

  log('the API comes back: Retry recovers');
  await step('start-api');
  await page.getByRole('button', { name: 'Retry' }).click();
  await until('the alert to go away', async () => !(await alert.isVisible()));
  await until('statistics after recovery', async () => (await stat('count')) === '11');
  await input.fill('77');
  await input.press('Enter');
  await until('77 stored after recovery', async () => (await stat('count')) === '12');
  assertEq((await listValues())[0], '77', 'top of the list after recovery');

  log('all steps passed');
  exitCode = 0;
} catch (e) {
  console.error(e.stack || String(e));
} finally {
  await browser.close();
  stdin.close();
}
process.exit(exitCode);
