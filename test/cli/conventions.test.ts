/** The command-line conventions users expect: per-command --help, --version, short flags, "did you mean". */
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { closest, editDistance } from '../../src/cli/args.js';
import { repo, runNpad } from './helpers.js';

test('npad CMD --help and -h print that command\'s help and exit 0, whatever else is on the line', () => {
  for (const command of ['fit', 'eval', 'predict', 'calibrate', 'serve']) {
    for (const flag of ['--help', '-h']) {
      const r = runNpad([command, flag, '--no-such-flag']);
      assert.equal(r.code, 0, `${command} ${flag}: ${r.stderr}`);
      assert.ok(r.stdout.startsWith(`npad ${command} `), r.stdout);
    }
  }
  const topic = runNpad(['help', 'predict']);
  assert.equal(topic.code, 0);
  assert.ok(topic.stdout.startsWith('npad predict '));
});

test('npad --version and -V print the package version', () => {
  const version = (JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8')) as { version: string }).version;
  for (const flag of ['--version', '-V']) {
    const r = runNpad([flag]);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `${version}\n`);
  }
});

test('a mistyped command or flag is answered with the closest one, exit 2', () => {
  const command = runNpad(['predcit', 'model.npad', 'x.png']);
  assert.equal(command.code, 2);
  assert.match(command.stderr, /^npad: unknown command 'predcit'; did you mean 'predict'\?/);
  const flag = runNpad(['fit', 'somewhere', '--outt', 'm.npad']);
  assert.equal(flag.code, 2);
  assert.match(flag.stderr, /^npad: npad fit: unknown option --outt; did you mean --out\? \(npad fit --help lists the options\)\n$/);
  const far = runNpad(['serve', 'm.npad', '--completely-different']);
  assert.equal(far.code, 2);
  assert.doesNotMatch(far.stderr, /did you mean/);
});

test('short flags: -o is --out (fit, predict, calibrate), -m is --model (eval), -p is --port (serve)', () => {
  // Each reaches the check after parsing: the flag was understood.
  const fit = runNpad(['fit', '/nonexistent-train-dir', '-o', 'm.npad']);
  assert.equal(fit.code, 2);
  assert.match(fit.stderr, /nonexistent-train-dir: not a folder/);
  const serve = runNpad(['serve', 'm.npad', '-p', '99999']);
  assert.equal(serve.code, 2);
  assert.match(serve.stderr, /--port: expected an integer from 0 to 65535, got '99999'/);
  const timeout = runNpad(['serve', 'm.npad', '--timeout-s', '1e9']);
  assert.equal(timeout.code, 2);
  assert.match(timeout.stderr, /--timeout-s: expected a number from 0.001 to 86400, got '1e9'/);
  const evalShort = runNpad(['eval', '/nonexistent-dataset', '-m', 'a.npad', '--save-threshold', 'f1-max', '-m', 'b.npad']);
  assert.equal(evalShort.code, 2);
  assert.match(evalShort.stderr, /--save-threshold needs exactly one --model/);
});

test('edit distance and the closest candidate', () => {
  assert.equal(editDistance('kitten', 'sitting'), 3);
  assert.equal(editDistance('outt', 'out'), 1);
  assert.equal(editDistance('predcit', 'predict'), 1); // a transposition
  assert.equal(closest('calbrate', ['fit', 'eval', 'calibrate']), 'calibrate');
  assert.equal(closest('xyz', ['fit', 'eval']), null);
});

test('npad fit checks --storage and the output folder before any work', () => {
  // The training folder does not exist either: the flags are named first, so no scan or fit ever starts.
  const storage = runNpad(['fit', '/nonexistent-train-dir', '-o', 'm.npad', '--storage', 'f8']);
  assert.equal(storage.code, 2);
  assert.match(storage.stderr, /^npad: --storage must be f32, f16 or i8, got 'f8'\n$/);
  const out = runNpad(['fit', '/nonexistent-train-dir', '-o', '/nonexistent-folder/m.npad']);
  assert.equal(out.code, 2);
  assert.match(out.stderr, /^npad: \/nonexistent-folder\/m\.npad: cannot write the model there: the folder \/nonexistent-folder does not exist\n$/);
});
