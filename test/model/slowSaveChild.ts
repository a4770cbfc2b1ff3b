/**
 * Child process for crash.test.ts: saves a large model to argv[2] through the
 * real writer (encodeModel + writeFileAtomic, exactly what saveModel does), but
 * fed in small pieces; once half the bytes are on disk it reports
 * "midway <bytes written>" on stdout and blocks, waiting to be killed.
 */
import { writeSync } from 'node:fs';
import { writeFileAtomic } from '../../src/io/atomic.js';
import { encodeModel, type ModelTensor } from '../../src/model/modelFile.js';

const path = process.argv[2];
const megabytes = Number(process.argv[3] ?? '200');
if (path === undefined) throw new Error('usage: slowSaveChild.ts <path> [megabytes]');

const values = new Float32Array((megabytes * 1024 * 1024) / 4).fill(0.75);
const tensors = new Map<string, ModelTensor>([['memory', { dtype: 'F32', shape: [values.length], data: values }]]);
const header = { method: 'big', config: {}, backbone: { id: 'new-backbone', weightsSha256: 'b'.repeat(64) } };
const chunks = encodeModel(header, tensors);
const total = chunks.reduce((n, c) => n + c.length, 0);

/** Synchronous sleep: the generator below cannot await. */
function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** The chunks cut into 4 MiB pieces, slowed down, stopping for good at half way. */
function* slowly(): Generator<Uint8Array> {
  const piece = 4 * 1024 * 1024;
  let written = 0; // pieces already yielded have been written when the next is asked for
  for (const chunk of chunks) {
    for (let at = 0; at < chunk.length; at += piece) {
      if (written >= total / 2) {
        writeSync(1, `midway ${written}\n`);
        for (;;) sleep(60_000);
      }
      const part = chunk.subarray(at, at + piece);
      yield part;
      written += part.length;
      sleep(1);
    }
  }
}

await writeFileAtomic(path, slowly());
writeSync(1, 'finished\n');
