/**
 * Fuzzing the decoders and loaders with mutated real files (test/robustness/fuzzChild.ts does the work in a child
 * process): every call must return or throw NpadInputError (never another error, never a crash of the process),
 * each within its time bound, the whole run within a minute. The seed is printed and recorded; rerun one with
 * NPAD_FUZZ_SEED=<seed> (or NPAD_FUZZ_SEED=random for a fresh one). The summary goes to docs/robustness.md.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { REPO, stable, table, writeSection } from './report.js';
import { WEIGHTS } from '../sharedData.js';

const DEFAULT_SEED = 20240607;
const envSeed = process.env.NPAD_FUZZ_SEED;
const seed = envSeed === 'random' ? Math.floor(Math.random() * 2 ** 31) : envSeed ? Number(envSeed) : DEFAULT_SEED;
const weights = WEIGHTS;
const haveWeights = await stat(weights).then(() => true, () => false);

/** Longest any single call may take: decoding a mutant of a 16×16 image, or loading a mutant of a tiny model. */
const CALL_BOUND_MS: Record<string, number> = { decodeRgb: 2000, decodeBmp: 1000, encodedImageSize: 1000, loadMask: 2000, loadModel: 5000, 'Detector.load': 10000 };
/** A case silent for this long is a hang: the child is killed. */
const HANG_MS = 30_000;
/** The whole run, child start, image samples and the three tiny fits included. */
const TOTAL_BOUND_MS = 60_000;

interface Started {
  start: number;
  target: string;
  base: string;
  mutation: string;
}
interface Done {
  done: number;
  ms: number;
  outcome: 'ok' | 'refused' | 'crash';
  message?: string;
}

/** A refusal message with paths and numbers generalised, to count kinds of refusal. */
function kind(message: string, dir: string): string {
  return stable(message, dir)
    .replace(/<tmp>\/[^:]*: /, '')
    .replace(/^[\w.-]+: /, '')
    .replace(/"[^"]*"/g, '"…"')
    .replace(/-?\d+(\.\d+)?(e[+-]?\d+)?/gi, 'N')
    .replace(/\((?:Input buffer|Vips|vips|tiff2vips|webp|gifload|heifload|TIFF|jpeg|png)[^)]*\)?.*$/, '(decoder message)')
    .slice(0, 140);
}

test(`fuzzed images and model files give NpadInputError or a result, never a crash or hang (seed ${seed})`, { timeout: 120_000 }, async () => {
  process.stdout.write(`# fuzz seed ${seed} (rerun with NPAD_FUZZ_SEED=${seed})\n`);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'npad-fuzz-'));
  const started = performance.now();
  const cases = new Map<number, Started & Partial<Done>>();
  let summary: { counts: Record<string, Record<string, number>> } | null = null;
  let fatal: string | null = null;
  let hung: (Started & Partial<Done>) | null = null;
  const modelCases = haveWeights ? '450' : '0';
  const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO, 'test', 'robustness', 'fuzzChild.ts'), String(seed), dir, '2500', modelCases], {
      cwd: REPO,
      env: { ...process.env, NPAD_THREADS: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let pending = '';
    let stderr = '';
    let current: (Started & Partial<Done>) | null = null;
    let watchdog = setTimeout(() => undefined, 0);
    const arm = (): void => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => {
        hung = current;
        child.kill('SIGKILL');
      }, HANG_MS);
    };
    arm();
    child.stdout.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        const event = JSON.parse(line) as Partial<Started & Done & { summary: typeof summary; fatal: string }>;
        if (event.start !== undefined) {
          current = event as Started;
          cases.set(event.start, current);
        } else if (event.done !== undefined) {
          Object.assign(cases.get(event.done) ?? {}, event);
          current = null;
        } else if (event.summary) summary = event.summary;
        else if (event.fatal) fatal = event.fatal;
        arm();
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(watchdog);
      resolve({ code, signal, stderr });
    });
  });
  const totalMs = performance.now() - started;
  await rm(dir, { recursive: true, force: true });

  const all = [...cases.values()];
  const describe = (c: Started & Partial<Done>): string => `case ${c.start} (seed ${seed}): ${c.target} on a mutant of ${c.base} (${c.mutation})`;
  if (hung) assert.fail(`hang: no answer for ${HANG_MS / 1000} s from ${describe(hung)}`);
  assert.equal(fatal, null, `the fuzz run failed outside a case: ${fatal}`);
  const unfinished = all.find((c) => c.outcome === undefined);
  assert.equal(exit.signal, null, `the child died (${exit.signal}) during ${unfinished ? describe(unfinished) : 'no case'}\n${exit.stderr}`);
  assert.equal(exit.code, 0, `child exited ${exit.code}${unfinished ? ` during ${describe(unfinished)}` : ''}\n${exit.stderr}`);
  const crashes = all.filter((c) => c.outcome === 'crash');
  assert.deepEqual(crashes.map((c) => `${describe(c)}: ${c.message}`), [], 'only NpadInputError may be thrown');
  const slow = all.filter((c) => (c.ms ?? 0) > (CALL_BOUND_MS[c.target] ?? 2000));
  assert.deepEqual(slow.map((c) => `${describe(c)} took ${c.ms} ms`), [], 'every call within its bound');
  assert.ok(totalMs < TOTAL_BOUND_MS, `the fuzz run took ${(totalMs / 1000).toFixed(1)} s`);
  assert.ok(summary !== null, 'the child reported its summary');

  // The document: cases per target and outcome, and the kinds of refusal seen.
  const targets = [...new Set(all.map((c) => c.target))];
  const byTarget = targets.map((t) => {
    const of = all.filter((c) => c.target === t);
    const count = (o: string): number => of.filter((c) => c.outcome === o).length;
    return [`\`${t}\``, String(of.length), String(count('ok')), String(count('refused')), String(count('crash')), `${((CALL_BOUND_MS[t] ?? 2000) / 1000).toFixed(0)} s`];
  });
  const kinds = new Map<string, number>();
  for (const c of all) if (c.outcome === 'refused' && c.message) kinds.set(kind(c.message, dir), (kinds.get(kind(c.message, dir)) ?? 0) + 1);
  const topKinds = [...kinds.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 25);
  await writeSection(
    'fuzz',
    [
      '## Fuzzing',
      '',
      `Run by test/robustness/fuzz.test.ts with seed ${seed} (rerun a seed with \`NPAD_FUZZ_SEED=<seed>\`, or a fresh one`,
      'with `NPAD_FUZZ_SEED=random`; the seed is printed). The cases run in a child process that the test kills if one',
      `case is silent for ${HANG_MS / 1000} s, so a hang, even in synchronous code, fails the test with its seed and case.`,
      '',
      'Mutants of real files: PNG (8-bit RGB, RGBA, 16-bit grey, palette), JPEG (baseline, progressive, CMYK), TIFF',
      '(LZW, uncompressed, CMYK), BMP (24-bit, 8-bit paletted, 32-bit bit fields), animated GIF and WebP, WebP; and',
      'tiny N-pad, PaDiM and PatchCore model files fitted on synthetic images. Mutations: bit flips, random bytes,',
      'truncation, inserted, deleted and repeated bytes, header fields set to boundary values (u8/u16/u32 in either',
      'byte order; PNG IHDR fields with the CRC recomputed, BMP header fields, JPEG frame sizes, TIFF tag types, counts',
      'and values), random bytes after a format\'s magic number; for models also any field of the npad metadata (the',
      'configuration, model sizes, backbone, checksum: none of it is covered by the tensor checksum) set to another',
      'JSON value or deleted, tensor entries\' dtype, shape and offsets, and the header length.',
      '',
      `Every call returned or threw \`NpadInputError\`; none crashed or hung. Whole run ${totalMs < 30_000 ? 'under 30' : 'under 60'} s.`,
      '',
      table(['call', 'cases', 'returned', 'refused (NpadInputError)', 'other error', 'time bound per call'], byTarget),
      '',
      'The most frequent refusals (paths, numbers and decoder texts generalised):',
      '',
      table(['refusal', 'cases'], topKinds.map(([k, n]) => [k, String(n)])),
    ].join('\n'),
  );
});
