#!/usr/bin/env node
/**
 * The `npad` command's entry point. It first makes sure the process runs with transparent huge pages
 * (hugePages.ts: without them, touching fresh memory cost a third of a fit), starting itself again when they
 * must be asked for, and only then loads the commands, so the first process never loads onnxruntime.
 */
import { rerunWithHugePages } from './hugePages.js';
import { watchLauncher } from './launcherWatch.js';

// Under npx, a SIGTERM to npx does not reach npad: losing the launcher counts as one (launcherWatch.ts). In the
// huge-pages parent the SIGTERM is passed on to the command it restarted.
watchLauncher(() => process.kill(process.pid, 'SIGTERM'));

if (!(await rerunWithHugePages())) {
  const { runCommandLine } = await import('./commands.js');
  await runCommandLine(process.argv.slice(2));
}
