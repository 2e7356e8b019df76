// Ferry's status page for a rolled-back environment, in Debian's headless Chromium driven by
// playwright-core. Run by controller/ferry/src/run/tests.rs with STATUS_URL, SHOT_DIR and
// EXPECT: `held` (ECS rolled a revision back; Ferry holds it back), `paused` (a rollback
// asked of Ferry; auto-sync paused) or `canary` (a canary deployment in progress). Exit code 0 means every check held.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const { STATUS_URL, SHOT_DIR, EXPECT } = process.env;
if (!STATUS_URL || !SHOT_DIR || !EXPECT) throw new Error('STATUS_URL, SHOT_DIR and EXPECT must be set');
mkdirSync(SHOT_DIR, { recursive: true });

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
let exitCode = 1;
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
  page.on('pageerror', (e) => problems.push(String(e)));
  await page.goto(STATUS_URL, { waitUntil: 'load' });
  if (EXPECT === 'canary') {
    // A canary in progress: strategy, stage, traffic bar, bake left on the service's row.
    const dep = page.locator('#env-dev ~ table tr.resource[data-name="web"] .deployment[data-strategy="CANARY"]').first();
    await dep.waitFor({ timeout: 10000 });
    const traffic = await dep.getAttribute('data-traffic');
    if (traffic !== '10') throw new Error(`canary traffic is ${traffic}`);
    const stage = await dep.getAttribute('data-stage');
    if (stage !== 'PRODUCTION_TRAFFIC_SHIFT') throw new Error(`canary stage is ${stage}`);
    const text = await dep.innerText();
    if (!/bake \d+m\d\ds left/.test(text)) throw new Error(`no bake left shown: ${text}`);
    const bar = await dep.locator('.bar span').first().boundingBox();
    const full = await dep.locator('.bar').first().boundingBox();
    if (!bar || !full || bar.width <= 0 || bar.width > full.width * 0.2) {
      throw new Error(`the traffic bar is not at 10%: ${JSON.stringify({ bar, full })}`);
    }
  } else {
    const banner = page.locator(`#env-dev ~ p.banner.${EXPECT}`).first();
    await banner.waitFor({ timeout: 10000 });
    const text = await banner.innerText();
    if (EXPECT === 'held') {
      if (!text.includes('rolled back by ECS')) throw new Error(`held banner says: ${text}`);
      const health = await page.locator('#env-dev ~ p .env-health').first().innerText();
      if (health !== 'Degraded') throw new Error(`environment health is ${health}`);
      const web = await page.locator('#env-dev ~ table tr.resource[data-name="web"]').first().innerText();
      if (!web.includes('git wants')) throw new Error(`the web row does not show the wanted revision: ${web}`);
    } else if (!text.includes('auto-sync paused')) {
      throw new Error(`paused banner says: ${text}`);
    }
  }
  await page.screenshot({ path: join(SHOT_DIR, `ferry-${EXPECT}.png`), fullPage: true });
  if (problems.length) throw new Error(`console errors: ${problems.join(' | ')}`);
  console.log(`status page (${EXPECT}) ok`);
  exitCode = 0;
} catch (e) {
  console.error(e.stack || String(e));
} finally {
  await browser.close();
}
process.exit(exitCode);
