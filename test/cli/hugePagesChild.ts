/**
 * Child of hugePages.test.ts: started plainly it reruns itself through rerunWith with a marked environment and
 * prints what rerunWith resolved; rerun, it prints its GLIBC_TUNABLES and exits with 7 or ends by SIGTERM. With
 * `orphan FILE`, the rerun one watches its parent as npad does (launcherWatch.ts) and, told to stop, writes FILE.
 */
import { writeFileSync } from 'node:fs';
import { rerunWith } from '../../src/cli/hugePages.js';
import { RESTARTED_ENV, watchLauncher } from '../../src/cli/launcherWatch.js';

if (process.env.NPAD_TEST_RERUN === 'inner') {
  process.stdout.write(`inner ${process.env.GLIBC_TUNABLES}\n`);
  if (process.argv[2] === 'orphan') {
    process.on('SIGTERM', () => {
      writeFileSync(process.argv[3]!, 'stopped on SIGTERM');
      process.exit(0);
    });
    watchLauncher(() => process.kill(process.pid, 'SIGTERM'));
    setInterval(() => {}, 1000); // works until told to stop
  } else if (process.argv[2] === 'signal') process.kill(process.pid, 'SIGTERM');
  else process.exitCode = 7;
} else {
  const result = await rerunWith({ ...process.env, NPAD_TEST_RERUN: 'inner', GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1', [RESTARTED_ENV]: '1' });
  process.stdout.write(`outer ${JSON.stringify(result)}\n`);
}
