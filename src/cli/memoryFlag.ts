/** The --memory-limit flag of `npad fit` and `npad eval`: the memory the fit may use (src/detector/memoryEstimate.ts). */
import { parseMemorySize, type MemoryGuardOptions } from '../detector/memoryEstimate.js';

/** parseArgs declaration of the flag. */
export const MEMORY_FLAG = { 'memory-limit': { type: 'string' } } as const;

export const MEMORY_HELP = `  --memory-limit SIZE  memory the fit may use, e.g. 8G or 512M (default: env NPAD_MEMORY_LIMIT, else the
                     machine's total or cgroup limit less a margin); a fit estimated above it is refused up front`;

/** The memory guard the flag asks for (empty: the default budget). */
export function memoryGuardFromFlag(value: string | undefined): MemoryGuardOptions {
  return value === undefined ? {} : { memoryLimit: parseMemorySize(value, '--memory-limit') };
}
