/**
 * The browser the page and report tests drive: Debian's Chromium at /usr/bin/chromium (npm test installs it:
 * scripts/ensure-chromium.sh) or $NPAD_CHROMIUM, through playwright-core, which downloads nothing. Without one the
 * test fails saying so, unless NPAD_SKIP_BROWSER=1 (machines where no browser can be installed).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = process.env.NPAD_CHROMIUM ?? '/usr/bin/chromium';

/** A launched Chromium, or null when the test was skipped for the lack of one (NPAD_SKIP_BROWSER=1). */
export async function launchChromium(t: TestContext): Promise<Browser | null> {
  if (!existsSync(CHROMIUM)) {
    if (process.env.NPAD_SKIP_BROWSER === '1') {
      t.skip(`no Chromium at ${CHROMIUM} (NPAD_SKIP_BROWSER=1)`);
      return null;
    }
    assert.fail(`no Chromium at ${CHROMIUM}: install it (apt-get install chromium; npm test does) or point NPAD_CHROMIUM at one; NPAD_SKIP_BROWSER=1 skips this test where no browser can be installed`);
  }
  return chromium.launch({ executablePath: CHROMIUM });
}
