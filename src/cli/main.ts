#!/usr/bin/env node
/**
 * The `npad` command's entry point. It first makes sure the process runs with the memory settings that glibc
 * reads at start (huge pages when NPAD_HUGE_PAGES=1, hugePages.ts; `npad serve`'s allocator setting,
 * serverAllocator.ts), starting itself again when they must be set, and only then loads the commands, so the
 * first process never loads onnxruntime.
 */
import { rerunWithMemorySettings } from './hugePages.js';
import { watchLauncher } from './launcherWatch.js';

// Under npx, a SIGTERM to npx does not reach npad: losing the launcher counts as one (launcherWatch.ts). In the
// huge-pages parent the SIGTERM is passed on to the command it restarted.
watchLauncher(() => process.kill(process.pid, 'SIGTERM'));

if (!(await rerunWithMemorySettings())) {
  const { runCommandLine } = await import('./commands.js');
  await runCommandLine(process.argv.slice(2));
}
