/** Under npx, losing the launcher counts as a SIGTERM; a plain npad is not watched. */
import test from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { watchLauncher } from '../../src/cli/launcherWatch.js';

test('started by npm exec: a changed parent calls back once; otherwise nothing is watched', async () => {
  let parent = 4242;
  let calls = 0;
  const stop = watchLauncher(() => calls++, { npm_command: 'exec' }, () => parent);
  const keepAlive = setInterval(() => {}, 100); // the watcher's timer does not hold the process open by itself
  await sleep(1200);
  assert.equal(calls, 0, 'same parent: nothing');
  parent = 1; // re-parented to init: npx and its shell are gone
  await sleep(1200);
  assert.equal(calls, 1);
  await sleep(1200);
  assert.equal(calls, 1, 'once');
  stop();

  let plain = 0;
  watchLauncher(() => plain++, {}, () => (parent += 1))();
  await sleep(1200);
  clearInterval(keepAlive);
  assert.equal(plain, 0, 'not started by npm exec: not watched');
});
