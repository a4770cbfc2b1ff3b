/** The web page of a server that needs a token: it asks for it, then works (headless Chromium). */
import test from 'node:test';
import assert from 'node:assert/strict';
import { launchChromium } from '../chromium.js';
import { fakeModel, startServer } from './helpers.js';

test('the page asks for the token a server needs, then lists its models', async (t) => {
  const browser = await launchChromium(t);
  if (browser === null) return;
  const token = 'page-token-0123456789abcdef';
  const { server, url } = await startServer([fakeModel('fake')], { token });
  try {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(`${url}/`);
    await page.locator('#auth').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#summary').textContent(), 'This server needs a token: enter it above.');
    await page.locator('#token').fill(token);
    await page.locator('#auth button').click();
    await page.locator('#model option[value=fake]').waitFor({ state: 'attached' });
    assert.ok(await page.locator('#auth').isHidden());
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    await server.close();
  }
});
