/**
 * The evaluation report in a real browser (headless Chromium): the verdicts and histogram on the first screen,
 * the image table sorting by a clicked column, a thumbnail enlarging, and a screenshot that is not blank.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { manualCalibration } from '../../src/detector/calibration.js';
import { buildEvaluationReport } from '../../src/report/evaluationReport.js';
import { launchChromium } from '../chromium.js';

test('the report on a 1000 × 800 screen: verdicts and histogram first, a sortable image table, thumbnails that enlarge', async (t) => {
  const browser = await launchChromium(t);
  if (browser === null) return;
  try {
    // 30 synthetic test images (12 good, 18 defective of two kinds), maps hot where the masks are.
    const root = await mkdtemp(path.join(os.tmpdir(), 'npad-report-browser-'));
    const size = 24;
    const outcomes = [];
    const maps: Float32Array[] = [];
    const masks: Uint8Array[] = [];
    for (let i = 0; i < 30; i++) {
      const label = i < 12 ? 0 : 1;
      const defect = label ? (i % 2 ? 'crack' : 'scratch') : 'good';
      const file = path.join(root, 'test', defect, `${String(i).padStart(3, '0')}.png`);
      await mkdir(path.dirname(file), { recursive: true });
      await sharp(Buffer.alloc(40 * 40 * 3, 40 + 6 * i), { raw: { width: 40, height: 40, channels: 3 } }).png().toFile(file);
      const mask = new Uint8Array(size * size);
      if (label) for (let y = 6; y < 14; y++) for (let x = 6; x < 14; x++) mask[y * size + x] = 1;
      maps.push(Float32Array.from(mask, (m, p) => 0.1 + (p % 5) / 50 + m * (0.5 + i / 10)));
      masks.push(mask);
      outcomes.push({ path: file, defect, label: label as 0 | 1, score: i < 12 ? 1 + i / 10 : 1.6 + (i - 12) / 8 });
    }
    const evaluation = { metrics: { image_auroc: 0.98, pixel_auroc: 0.97, pro: 0.9, image_f1_max: 0.95 }, outcomes, maps, shapes: maps.map((m) => ({ width: Math.sqrt(m.length), height: Math.sqrt(m.length) })), masks, scoreSeconds: 1 };
    const html = await buildEvaluationReport({
      title: 'line 3: npad',
      datasetRoot: root,
      evaluation,
      preprocess: { resize: 32, crop: 24 },
      calibration: manualCalibration({ imageThreshold: 2, pixelThreshold: 1 }, null),
      options: [['method', 'npad'], ['dim', '200']],
    });
    const file = path.join(root, 'report.html');
    await writeFile(file, html);

    const page = await browser.newPage({ viewport: { width: 1000, height: 800 } });
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(`file://${file}`);
    // The first screen: the confusion matrix and the histogram with its threshold line.
    for (const selector of ['table.confusion', 'svg.histogram', 'svg.histogram .threshold']) {
      const box = await page.locator(selector).boundingBox();
      assert.ok(box && box.y + box.height <= 800, `${selector} on the first screen: ${JSON.stringify(box)}`);
    }
    // Scores 1.0–2.1 good (threshold 2: 1.0…1.9 good, 2.0 and 2.1 false alarms), defective 1.6…3.725 (1.6–1.975 missed).
    assert.deepEqual(await page.locator('table.confusion td.count').allInnerTexts(), ['10', '2\nfalse alarms', '4\nmissed', '14']);
    const scores = async (): Promise<number[]> => (await page.$$eval('table.images tbody tr', (rows) => rows.map((r) => Number(r.getAttribute('data-score')))));
    assert.equal((await scores()).length, 30);
    await page.locator('table.images th[data-key=score]').click();
    const up = await scores();
    assert.deepEqual(up, [...up].sort((a, b) => a - b), 'ascending after one click');
    await page.locator('table.images th[data-key=score]').click();
    const down = await scores();
    assert.deepEqual(down, [...down].sort((a, b) => b - a), 'descending after a second click');
    assert.equal(await page.locator('table.images tr.wrong').count(), 6, 'the 2 false alarms and 4 misses are marked');
    const thumb = page.locator('img.thumb').first();
    assert.equal((await thumb.boundingBox())!.width, 56);
    await thumb.click();
    assert.equal((await thumb.boundingBox())!.width, 224, 'enlarged');
    await thumb.click();
    assert.equal((await thumb.boundingBox())!.width, 56, 'back');
    const shot = await sharp(await page.screenshot()).stats();
    assert.ok(shot.channels.some((c) => c.stdev > 10), 'the screenshot is not blank');
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});
