#!/usr/bin/env node
/**
 * The `npad` command's entry point. It first makes sure the process runs with transparent huge pages
 * (hugePages.ts: without them, touching fresh memory cost a third of a fit), starting itself again when they
 * must be asked for, and only then loads the commands, so the first process never loads onnxruntime.
 */
import { rerunWithHugePages } from './hugePages.js';

if (!(await rerunWithHugePages())) {
  const { runCommandLine } = await import('./commands.js');
  await runCommandLine(process.argv.slice(2));
}
