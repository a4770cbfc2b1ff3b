/**
 * `npad predict`, `npad calibrate`, `npad fit`'s held-out threshold and `npad eval`'s report and --save-threshold,
 * end to end on a small slice of the real bottle data with a tiny configuration.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { writeModelCalibration } from '../../src/detector/calibrationFile.js';
import { haveData, runNpad, smallDataset as smallDatasetOf } from './helpers.js';

// A small, fast configuration: the plumbing is under test, not accuracy.
const SMALL = ['--dim', '12', '--set', 'maxCentroids=16', '--set', 'kmeansSample=1000', '--set', 'moduleD=false', '--batch-size', '4'];

function npad(...args: string[]): ReturnType<typeof runNpad> {
  return runNpad(args, 1);
}

const smallDataset = (): Promise<string> => smallDatasetOf('npad-predict-', 2);

test('fit holds out a threshold; predict writes verdicts, overlays, masks, JSON Lines; skips bad images with exit 3', { skip: !haveData && 'shared bottle data not found' }, async () => {
  const root = await smallDataset();
  const model = path.join(root, 'm.npad');
  const fit = npad('fit', root, '--out', model, ...SMALL);
  assert.equal(fit.code, 0, fit.stderr);
  assert.match(fit.stdout, /fitted on 5 images/);
  assert.match(fit.stdout, /threshold: image threshold -?[\d.]+, pixel threshold -?[\d.]+ \(false-alarm rate 1 % on 1 held-out good image; extrapolated/);

  const truncated = path.join(root, 'truncated.png');
  await writeFile(truncated, (await readFile(path.join(root, 'test', 'good', '000.png'))).subarray(0, 2000));
  const notImage = path.join(root, 'notes.png');
  await writeFile(notImage, 'not an image');
  const out = path.join(root, 'pred');
  const r = npad('predict', model, path.join(root, 'test'), truncated, notImage, '--out', out);
  assert.equal(r.code, 3, r.stderr);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  assert.ok(r.stderr.includes(`skipped ${truncated}: not a decodable image`), r.stderr);
  assert.ok(r.stderr.includes(`skipped ${notImage}: not a decodable image`), r.stderr);
  assert.match(r.stderr, /2 inputs were skipped/);
  const lines = r.stdout.trim().split('\n');
  assert.match(lines.at(-1)!, /^6 images: \d good, \d defective, 2 skipped/);
  assert.match(r.stdout, /^(good|defective) +[01]\.\d{3}  score -?[\d.]+ +.*broken_large\/000\.png$/m);

  const records = (await readFile(path.join(out, 'predictions.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(records.length, 6);
  const scored = records.filter((x) => !x.skipped);
  assert.equal(scored.length, 4);
  for (const rec of scored) {
    assert.ok(rec.verdict === 'good' || rec.verdict === 'defective');
    assert.equal(rec.verdict === 'defective', (rec.score as number) >= (rec.image_threshold as number));
    assert.equal((rec.normalised_score as number) >= 0.5, rec.verdict === 'defective');
    for (const key of ['overlay', 'mask'] as const) {
      const meta = await sharp(path.join(out, rec[key] as string)).metadata();
      // At the photo's own size, whatever the network's input.
      const photo = await sharp(rec.file as string).metadata();
      assert.deepEqual([meta.format, meta.width, meta.height], ['png', photo.width, photo.height], `${String(rec[key])}`);
    }
  }
  assert.deepEqual(scored.map((x) => x.overlay), ['broken_large/000.overlay.png', 'broken_large/001.overlay.png', 'good/000.overlay.png', 'good/001.overlay.png']);
  assert.deepEqual(records.filter((x) => x.skipped).map((x) => x.file), [truncated, notImage]);
  // broken_large is a gross defect: the heatmap marks some of it even with this tiny model.
  assert.ok(scored.slice(0, 2).every((x) => (x.defect_area as number) > 0.01), JSON.stringify(scored.slice(0, 2)));

  // --json: one JSON object per image on stdout and nothing else.
  const j = npad('predict', model, path.join(root, 'test', 'good', '000.png'), notImage, '--json');
  assert.equal(j.code, 3, j.stderr);
  const objects = j.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(objects.length, 2);
  assert.equal(typeof objects[0]!.score, 'number');
  assert.equal(objects[1]!.skipped, true);
  assert.match(j.stderr, /2 images: /);
});

test('a model without thresholds is refused with how to calibrate; calibrate and eval --save-threshold set them', { skip: !haveData && 'shared bottle data not found' }, async () => {
  const root = await smallDataset();
  const model = path.join(root, 'm.npad');
  assert.equal(npad('fit', root, '--out', model, '--holdout', '0', ...SMALL).code, 0);
  const image = path.join(root, 'test', 'good', '000.png');
  const refused = npad('predict', model, image, '--out', path.join(root, 'never'));
  assert.equal(refused.code, 2);
  assert.ok(refused.stderr.startsWith(`npad: ${model}: the model has no score threshold`), refused.stderr);
  assert.match(refused.stderr, /npad calibrate .* --good DIR/);
  await assert.rejects(stat(path.join(root, 'never')), 'nothing written');

  const manual = npad('calibrate', model, '--image-threshold', '1e9', '--pixel-threshold', '1e9');
  assert.equal(manual.code, 0, manual.stderr);
  assert.match(manual.stdout, /image threshold 1000000000, pixel threshold 1000000000 \(set by hand\)/);
  const p = npad('predict', model, image);
  assert.equal(p.code, 0, p.stderr);
  assert.match(p.stdout, /^good +0\.\d{3}/m);

  // eval: F1-max thresholds stored in the model, and the HTML report beside --json.
  const json = path.join(root, 'out', 'metrics.json');
  const ev = npad('eval', root, '--model', model, '--json', json, '--save-threshold', 'f1-max');
  assert.equal(ev.code, 0, ev.stderr);
  assert.match(ev.stdout, /saved in .*m\.npad: image threshold -?[\d.]+, pixel threshold -?[\d.]+ \(F1-max on 4 labelled images\)/);
  assert.match(ev.stdout, /at the model's threshold \(f1-max\): \d of 2 good images called defective, \d of 2 defective missed/);
  const metrics = JSON.parse(await readFile(json, 'utf8')) as { image_auroc: number; pixel_auroc: number; threshold: { source: string } };
  assert.equal(metrics.threshold.source, 'f1-max');
  const html = await readFile(path.join(root, 'out', 'metrics.html'), 'utf8');
  assert.ok(html.startsWith('<!DOCTYPE html>'));
  assert.doesNotMatch(html, /https?:\/\//, 'no external resource');
  assert.doesNotMatch(html, /(src|href)="(?!data:)/, 'every image inline');
  assert.doesNotMatch(html, /<script [^>]*src/, 'the one script is inline');
  assert.ok(html.includes(`${(100 * metrics.image_auroc).toFixed(2)} %`) && html.includes(`${(100 * metrics.pixel_auroc).toFixed(2)} %`), 'the metrics');
  assert.equal((html.match(/<svg /g) ?? []).length, 3, 'the score histogram, ROC and PRO curves');
  assert.equal((html.match(/<img class="thumb" [^>]*src="data:image\/jpeg;base64,/g) ?? []).length, 4, 'every test image in the table');
  assert.equal((html.match(/src="data:image\/png;base64,/g) ?? []).length, 4, 'the gallery: 2 good, 2 defective');
  assert.ok(html.includes('test/broken_large/000.png'));
  const c = npad('calibrate', model);
  assert.match(c.stdout, /F1-max on 4 labelled images/);

  // calibrate --good from images the model was not fitted on, into another file.
  const other = path.join(root, 'other.npad');
  const g = npad('calibrate', model, '--good', path.join(root, 'test', 'good'), '--false-alarm-rate', '0.2', '--out', other);
  assert.equal(g.code, 0, g.stderr);
  assert.match(g.stdout, /false-alarm rate 20 % on 2 held-out good images/);
  // Removing the thresholds again (library) gives the old-model behaviour.
  await writeModelCalibration(other, null);
  assert.equal(npad('predict', other, image).code, 2);
});
