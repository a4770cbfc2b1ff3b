/**
 * Child of hugePages.test.ts: started plainly it reruns itself through rerunWith with a marked environment and
 * prints what rerunWith resolved; rerun, it prints its GLIBC_TUNABLES and exits with 7 or ends by SIGTERM.
 */
import { rerunWith } from '../../src/cli/hugePages.js';

if (process.env.NPAD_TEST_RERUN === 'inner') {
  process.stdout.write(`inner ${process.env.GLIBC_TUNABLES}\n`);
  if (process.argv[2] === 'signal') process.kill(process.pid, 'SIGTERM');
  else process.exitCode = 7;
} else {
  const result = await rerunWith({ ...process.env, NPAD_TEST_RERUN: 'inner', GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1' });
  process.stdout.write(`outer ${JSON.stringify(result)}\n`);
}
