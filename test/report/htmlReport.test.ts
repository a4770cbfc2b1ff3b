import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { manualCalibration } from '../../src/detector/calibration.js';
import { buildEvaluationReport, operatingPoint } from '../../src/report/evaluationReport.js';
import { renderHtmlReport } from '../../src/report/htmlReport.js';
import { escapeXml, renderCurveSvg } from '../../src/report/svgCurves.js';
import { binCounts } from '../../src/report/svgHistogram.js';

const preprocess = { resize: 32, crop: 24 };
const size = 24;

/** A synthetic labelled evaluation: 3 good and 3 defective images on disk, maps hot where the mask is. */
async function syntheticEvaluation(): Promise<{ root: string; evaluation: Parameters<typeof buildEvaluationReport>[0]['evaluation'] }> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'npad-report-'));
  const outcomes = [];
  const maps: Float32Array[] = [];
  const masks: Uint8Array[] = [];
  for (let i = 0; i < 6; i++) {
    const label = i < 3 ? 0 : 1;
    const defect = label ? 'crack' : 'good';
    const file = path.join(root, 'test', defect, `${i}.png`);
    await mkdir(path.dirname(file), { recursive: true });
    await sharp(Buffer.alloc(40 * 40 * 3, 60 + 20 * i), { raw: { width: 40, height: 40, channels: 3 } }).png().toFile(file);
    const mask = new Uint8Array(size * size);
    if (label) for (let y = 8; y < 14; y++) for (let x = 8; x < 14; x++) mask[y * size + x] = 1;
    maps.push(Float32Array.from(mask, (m, p) => 0.1 + (p % 7) / 100 + m * (1 + i)));
    masks.push(mask);
    outcomes.push({ path: file, defect, label: label as 0 | 1, score: 1 + i });
  }
  return { root, evaluation: { metrics: { image_auroc: 1, pixel_auroc: 0.987654, pro: 0.9, image_f1_max: 1 }, outcomes, maps, shapes: maps.map(() => ({ width: size, height: size })), masks, scoreSeconds: 1 } };
}

test('the HTML report is self-contained: the verdicts and histogram first, then every image, each defect, options, metrics, curves, gallery', async () => {
  const { root, evaluation } = await syntheticEvaluation();
  const html = await buildEvaluationReport({
    title: 'synthetic <run> & co',
    datasetRoot: root,
    evaluation,
    preprocess,
    calibration: manualCalibration({ imageThreshold: 3.5, pixelThreshold: 1 }, null),
    details: [['timings', 'fit 1 s']],
    options: [['method', 'npad'], ['dim', '200']],
    gallerySize: 2,
  });
  assert.ok(html.startsWith('<!DOCTYPE html>'));
  assert.doesNotMatch(html, /https?:\/\//, 'nothing fetched');
  assert.doesNotMatch(html, /(src|href)="(?!data:)/, 'images inline');
  assert.doesNotMatch(html, /<script [^>]*src|<link|@import|url\(/, 'the one script is inline');
  // The sections in the order a line engineer reads them.
  const sections = [...html.matchAll(/<h2>([^<]+)<\/h2>/g)].map((m) => m[1]);
  assert.deepEqual(sections.slice(0, 6), ['At the threshold', 'Every image', 'Each defect type', 'Options', 'Metrics', 'Curves']);
  // The confusion matrix at 3.5: good scores 1, 2, 3 called good; defective 4, 5, 6 found.
  assert.match(html, /<th>good \(3\)<\/th><td class="count ok">3<\/td><td class="count ok">0<small>false alarms<\/small>/);
  assert.match(html, /<th>defective \(3\)<\/th><td class="count ok">0<small>missed<\/small><\/td><td class="count ok">3<\/td>/);
  assert.match(html, /<svg class="chart histogram"[^]*class="threshold"/);
  assert.equal((html.match(/<img class="thumb"/g) ?? []).length, 6, 'every image in the table');
  assert.match(html, /<tr><td>crack<\/td><td>3<\/td><td>3 of 3<\/td><td>100.00 %<\/td>/);
  assert.match(html, /<tr><td>dim<\/td><td>200<\/td><\/tr>/);
  assert.ok(html.includes('<title>synthetic &lt;run&gt; &amp; co</title>'), 'text escaped');
  assert.ok(html.includes('98.77 %'), 'pixel AUROC');
  assert.ok(html.includes('0 of 3 good images called defective, 0 of 3 defective missed'));
  assert.ok(html.includes('fit 1 s'));
  assert.equal((html.match(/<svg /g) ?? []).length, 3, 'histogram, ROC, PRO');
  assert.equal((html.match(/<polyline /g) ?? []).length, 3, 'image ROC, pixel ROC, PRO');
  assert.equal((html.match(/src="data:image\/png;base64,/g) ?? []).length, 4);
  // Highest-scored good first, lowest-scored defective first.
  const order = [...html.matchAll(/<b>(test\/[^<]+)<\/b>/g)].map((m) => m[1]);
  assert.deepEqual(order, ['test/good/2.png', 'test/good/1.png', 'test/crack/3.png', 'test/crack/4.png']);
});

test('without a calibration the report uses F1-max on the test set and says so', async () => {
  const { root, evaluation } = await syntheticEvaluation();
  const html = await buildEvaluationReport({ title: 't', datasetRoot: root, evaluation, preprocess, calibration: null });
  assert.match(html, /image threshold 4, pixel threshold 4.1 \(F1-max on 6 labelled images\); the model has none, so these are chosen on this test set/);
});

test('operating point, curves and escaping', () => {
  assert.deepEqual(operatingPoint([1, 2, 3, 4], [0, 0, 1, 1], 2), { falseAlarms: 1, good: 2, misses: 0, defective: 2 });
  assert.equal(escapeXml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  const svg = renderCurveSvg({ title: 'T', xLabel: 'x', yLabel: 'y', xMax: 0.5, series: [{ label: 'c', x: [0, 0.5, 1], y: [0, 1, 1], colour: 'red' }] });
  assert.ok(svg.startsWith('<svg ') && svg.endsWith('</svg>'));
  // x beyond xMax is clamped to the frame's right edge (48 + 300).
  assert.match(svg, /points="48,260 348,28 348,28"/);
  assert.throws(() => renderCurveSvg({ title: 'T', xLabel: 'x', yLabel: 'y', xMax: 1, series: [{ label: 'c', x: [0], y: [], colour: 'red' }] }), /1 x values but 0 y values/);
  const verdicts = { threshold: 't', goodCalledGood: 0, goodCalledDefective: 0, defectiveCalledGood: 0, defectiveCalledDefective: 0 };
  const page = renderHtmlReport({ title: 'a', subtitle: 'b', verdicts, histogram: '', images: [], defects: [], options: [], metrics: [], details: [], charts: [], galleries: [], generatedAt: 'now' });
  assert.doesNotMatch(page, /Overlays:/, 'no legend without pictures');
});

test('histogram bins: equal widths over the range, the top value in the last bin', () => {
  assert.deepEqual(binCounts([0, 0.1, 0.5, 0.99, 1], 0, 1, 4), [2, 0, 1, 2]);
  assert.deepEqual(binCounts([2, 2], 2, 2, 3), [2, 0, 0], 'an empty range counts into the first bin');
});
