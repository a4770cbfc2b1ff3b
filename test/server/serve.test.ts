/**
 * Serving a real model: a small calibrated N-pad model fitted here on 4 bottle images. The web page in a real
 * headless Chromium (upload through the file input, result cards, the threshold slider, a screenshot); `npad
 * serve` as a process (readiness, a prediction equal to the library's, SIGTERM with requests in flight, user
 * mistakes); and a small load test. Outcomes go into docs/robustness.md (the server section, real-model part).
 *
 * Chromium: /usr/bin/chromium (Debian's `chromium` package; .ci/run installs it) or $NPAD_CHROMIUM. Without it
 * the browser test fails with a message saying so, unless NPAD_SKIP_BROWSER=1 (for machines without a browser).
 */
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { launchChromium } from '../chromium.js';
import { Detector } from '../../src/detector/detector.js';
import type { Prediction } from '../../src/detector/predict.js';
import { DetectorModel } from '../../src/server/detectorModel.js';
import { SERVER_MMAP_THRESHOLD, runsOnGlibc } from '../../src/cli/serverAllocator.js';
import { BOTTLE, bottleTestImages, fitSmallModel, runLoad } from '../../bench/load.js';
import { CompleteRun, outcomeTable, repo, startServer, writeServerSection, type OutcomeRow } from './helpers.js';

const haveData = await stat(BOTTLE).then(() => true, () => false);
const rows: OutcomeRow[] = [];
const run = new CompleteRun();
let tmp = '';
let modelFile = '';

before(async () => {
  if (!haveData) return;
  tmp = await mkdtemp(path.join(os.tmpdir(), 'npad-serve-'));
  modelFile = await fitSmallModel(path.join(tmp, 'bottle.npad'));
});

after(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
  if (run.complete) {
    await writeServerSection(
      'serve',
      `### A real model and \`npad serve\`\n\nA small N-pad model (fitted on 4 bottle images, d = 12, threshold from 3 held-out ones).\n\n${outcomeTable(rows)}`,
    );
  }
});

const testImage = (kind: string, file = '000.png'): string => path.join(BOTTLE, 'test', kind, file);

/** What the library itself predicts for a file (the server must agree). */
async function libraryPrediction(detector: Detector, file: string): Promise<Prediction> {
  let out: Prediction | undefined;
  await detector.predict([file], (_i, p) => void (out = p));
  return out!;
}

test('the web page in a real browser: upload, result cards, threshold slider, screenshot', { skip: !haveData && 'shared bottle data not found' }, run.wrap(async (t) => {
  const browser = await launchChromium(t);
  if (browser === null) return false;
  const detector = await Detector.load(modelFile);
  const served = await DetectorModel.create(detector, 'bottle', modelFile, 40_000_000);
  const copy = await DetectorModel.create(detector, 'bottle-copy', modelFile, 40_000_000);
  const { server, url } = await startServer([served, copy]);
  try {
    const page = await browser.newPage({ viewport: { width: 1000, height: 800 } });
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      // The text file below is refused with 415 on purpose; the browser logs that answer.
      if (m.type() === 'error' && !/status of 415/.test(m.text())) problems.push(`console: ${m.text()}`);
    });
    await page.goto(`${url}/`);
    await page.waitForFunction("document.querySelectorAll('#model option').length === 2");
    assert.deepEqual(await page.locator('#model option').allTextContents(), ['bottle', 'bottle-copy']);
    assert.match((await page.locator('#model-info').textContent())!, /npad · 224×224 px input · d = 12 · threshold/);

    const files = [testImage('good', '001.png'), testImage('broken_large', '000.png')];
    const expected = await Promise.all(files.map((f) => libraryPrediction(detector, f)));
    await page.locator('#file').setInputFiles(files);
    const cards = page.locator('.card[data-normalised]');
    await cards.nth(1).waitFor({ timeout: 60_000 });
    // In upload order; the page scores one upload at a time.
    const shown = await page.$$eval('.card', (els) =>
      els.map((e) => ({
        name: e.querySelector('.name')!.textContent,
        verdict: e.querySelector('.verdict')!.textContent,
        score: e.querySelector('.score')!.textContent,
        normalised: Number(e.getAttribute('data-normalised')),
      })),
    );
    assert.equal(shown.length, 2);
    assert.deepEqual(shown.map((s) => s.name), files.map((f) => path.basename(f)), 'upload order kept');
    for (const [i, file] of files.entries()) {
      const card = shown.find((s) => s.name === path.basename(file))!;
      const p = expected[i]!;
      assert.ok(Math.abs(card.normalised - p.normalisedScore) < 1e-4, `${file}: page ${card.normalised}, library ${p.normalisedScore}`);
      assert.equal(card.verdict, p.verdict, `${file} verdict at the model's threshold`);
      assert.match(card.score!, new RegExp(`^score ${p.normalisedScore.toFixed(3)} \\(raw ${p.score.toFixed(3)}\\)$`));
    }
    rows.push({
      case: 'web page: upload through the file input',
      request: 'good/001.png and broken_large/000.png in headless Chromium',
      outcome: `two result cards; verdicts and scores equal the library's (${shown.map((s) => `${s.name}: ${s.verdict}`).join(', ')})`,
    });

    // The slider re-judges in the browser: Home = 0 calls everything defective, End = the top calls everything good.
    const verdicts = (): Promise<string[]> => page.locator('.card .verdict').allTextContents();
    await page.locator('#threshold').focus();
    await page.keyboard.press('Home');
    assert.equal(await page.locator('#threshold-value').textContent(), '0.00');
    assert.deepEqual(await verdicts(), ['defective', 'defective']);
    assert.match((await page.locator('#summary').textContent())!, /0 good · 2 defective/);
    await page.keyboard.press('End');
    assert.deepEqual(await verdicts(), ['good', 'good']);
    // Just above / below one image's score flips that image only.
    const target = shown[0]!;
    await page.locator('#threshold').fill(String(Math.min(1, Math.ceil(target.normalised * 100) / 100 + 0.01)));
    assert.equal(await page.locator('.card .verdict').first().textContent(), 'good');
    await page.locator('#threshold').fill(String(Math.max(0, Math.floor(target.normalised * 100) / 100 - 0.01)));
    assert.equal(await page.locator('.card .verdict').first().textContent(), 'defective');
    await page.locator('#reset-threshold').click();
    assert.deepEqual(await verdicts(), shown.map((s) => s.verdict));
    rows.push({ case: 'web page: threshold slider', request: 'Home, End, just above and below a score, reset', outcome: 'all defective at 0, all good at the top, the image flips around its score, back to the model’s verdicts at 0.5' });

    // Screenshot: the page's size, and a real picture where the overlay is.
    const shot = await page.screenshot();
    const meta = await sharp(shot).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['png', 1000, 800]);
    await writeFile(path.join(tmp, 'page.png'), shot);
    const overlay = page.locator('.card .overlay').first();
    assert.equal(await overlay.evaluate((img: { naturalWidth: number }) => img.naturalWidth), 256, 'the photo’s own width');
    const region = await sharp(await overlay.screenshot()).stats();
    const spread = Math.max(...region.channels.slice(0, 3).map((c) => c.stdev));
    assert.ok(spread > 10, `the overlay region is not blank (largest channel stdev ${spread.toFixed(1)})`);
    rows.push({ case: 'web page: screenshot', request: '1000×800 viewport', outcome: 'PNG 1000×800; the overlay shown at its natural 256 px (the photo’s size), not blank (channel stdev > 10)' });

    // A file that is no image gets an error card with the server's message; the page carries on.
    await page.locator('#file').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not a picture') });
    await page.locator('.card.failed').waitFor();
    assert.match((await page.locator('.card.failed .error').textContent())!, /^notes\.txt: not a decodable image/);
    rows.push({ case: 'web page: a text file dropped', request: 'notes.txt through the file input', outcome: `error card: "${(await page.locator('.card.failed .error').textContent())!.slice(0, 60)}…"` });

    // Choosing the other model scores the shown images again there; a dropped image goes there too, at the end.
    await page.locator('#model').selectOption('bottle-copy');
    const dropped = (await readFile(testImage('contamination'))).toString('base64');
    const dataTransfer = await page.evaluateHandle(
      `(() => { const t = new DataTransfer(); t.items.add(new File([Uint8Array.from(atob('${dropped}'), (c) => c.charCodeAt(0))], 'dropped.png', { type: 'image/png' })); return t; })()`,
    );
    await page.dispatchEvent('#drop', 'drop', { dataTransfer });
    /** Waits (up to a minute) until `ok` holds; the page's CSP forbids the string predicates of waitForFunction. */
    const until = async (ok: () => Promise<boolean>, what: string): Promise<void> => {
      for (const started = Date.now(); !(await ok()); await new Promise((r) => setTimeout(r, 100))) {
        if (Date.now() - started > 60_000) assert.fail(`timed out waiting for ${what}`);
      }
    };
    const countIs = (selector: string, n: number): Promise<void> => until(async () => (await page.locator(selector).count()) === n, `${n} × ${selector}`);
    await countIs('.card[data-normalised]', 3);
    await countIs('.card.failed', 1);
    const metas = await page.locator('.card .meta').allTextContents();
    assert.equal(metas.length, 3);
    assert.ok(metas.every((m) => m.startsWith('bottle-copy · ')), `every image scored again by the new model: ${metas.join(' | ')}`);
    const { width, height } = await sharp(testImage('contamination')).metadata();
    assert.match(metas[2]!, new RegExp(`^bottle-copy · ${width}×${height} · \\d+ ms$`));
    assert.deepEqual(await page.locator('.card .name').allTextContents(), ['001.png', '000.png', 'notes.txt', 'dropped.png']);
    rows.push({ case: 'web page: switch model, drag and drop', request: 'select bottle-copy, drop contamination/000.png on the zone', outcome: 'the shown images scored again by bottle-copy; dropped.png added at the end' });

    // Two files of the same name are told apart.
    await page.locator('#file').setInputFiles(files[0]!);
    await countIs('.card[data-normalised]', 4);
    assert.equal(await page.locator('.card .name').last().textContent(), '001.png (2)');

    // Click to enlarge; the map toggles between the overlay and the image as uploaded.
    await page.locator('.card .overlay').first().click();
    const zoomed = page.locator('#zoom-image');
    assert.ok(await page.locator('#zoom').evaluate((d: { open: boolean }) => d.open));
    assert.match((await zoomed.getAttribute('src'))!, /^data:image\/png;base64,/);
    await page.locator('#zoom-map').click();
    assert.match((await zoomed.getAttribute('src'))!, /^blob:/);
    await until(() => zoomed.evaluate((img: { complete: boolean; naturalWidth: number }) => img.complete && img.naturalWidth > 0), 'the uploaded image');
    assert.equal(await page.locator('#zoom-map').textContent(), 'Map on');
    await page.locator('#zoom-close').click();
    rows.push({ case: 'web page: enlarge', request: 'click an overlay, Map off, Close', outcome: 'a dialog with the overlay, then the image as uploaded' });

    // Downloads: CSV and JSON Lines of the scored images, verdicts at the slider's threshold.
    const [csv] = await Promise.all([page.waitForEvent('download'), page.locator('#download-csv').click()]);
    const csvText = await readFile((await csv.path())!, 'utf8');
    const csvLines = csvText.trim().split(/\r\n/);
    assert.equal(csvLines[0], 'file,model,verdict,threshold,score,normalised_score,defect_area,width,height');
    assert.deepEqual(csvLines.slice(1).map((l) => l.split(',')[0]), ['001.png', '000.png', 'dropped.png', '001.png (2)']);
    const [jsonl] = await Promise.all([page.waitForEvent('download'), page.locator('#download-jsonl').click()]);
    const records = (await readFile((await jsonl.path())!, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { file: string; verdict: string; model: string });
    assert.deepEqual(records.map((r) => [r.file, r.model]), [['001.png', 'bottle-copy'], ['000.png', 'bottle-copy'], ['dropped.png', 'bottle-copy'], ['001.png (2)', 'bottle-copy']]);
    assert.equal(records[1]!.verdict, expected[1]!.verdict);
    rows.push({ case: 'web page: download', request: 'Download CSV, Download JSON Lines', outcome: `${csvLines.length - 1} rows each, in upload order` });

    // Clear empties the page.
    await page.locator('#clear').click();
    assert.equal(await page.locator('.card').count(), 0);
    assert.equal(await page.locator('#summary').textContent(), 'No images yet.');
    assert.ok(await page.locator('#download-csv').isDisabled());
    assert.deepEqual(problems, [], 'no script errors and no blocked resources');
  } finally {
    await browser.close();
    await server.close();
  }
}));

/** A running `npad serve`: its process, URL and output so far. */
interface ServeProcess {
  child: ChildProcessWithoutNullStreams;
  url: string;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number | null>;
}

function npadServe(args: string[]): { child: ChildProcessWithoutNullStreams; out: { stdout: string; stderr: string }; exit: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(repo, 'src', 'cli', 'main.ts'), 'serve', ...args], {
    cwd: repo,
    env: { ...process.env, NPAD_THREADS: '1' },
  });
  const out = { stdout: '', stderr: '' };
  child.stdout.on('data', (d: Buffer) => (out.stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out.stderr += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, out, exit };
}

/** Starts `npad serve` and waits for its "listening on" line. */
async function startServe(args: string[]): Promise<ServeProcess> {
  const { child, out, exit } = npadServe(args);
  const deadline = Date.now() + 60_000;
  for (;;) {
    const m = /listening on (http:\/\/\S+)/.exec(out.stdout);
    if (m) return { child, url: m[1]!, stdout: () => out.stdout, stderr: () => out.stderr, exit };
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`npad serve did not start: ${out.stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('npad serve: ready after loading, predicts like the library, drains on SIGTERM', { skip: !haveData && 'shared bottle data not found' }, run.wrap(async () => {
  const serve = await startServe([`bottle=${modelFile}`, '--port', '0']);
  try {
    let sawNotReady = false;
    for (;;) {
      const r = await fetch(`${serve.url}/readyz`);
      if (r.status === 200) break;
      assert.equal(r.status, 503);
      sawNotReady = true;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(serve.stdout(), /ready: bottle \(npad\)/);
    // On glibc the server runs in a child started with the allocator setting (src/cli/serverAllocator.ts).
    if (process.platform === 'linux' && runsOnGlibc()) {
      const children = readFileSync(`/proc/${serve.child.pid}/task/${serve.child.pid}/children`, 'utf8').trim().split(/\s+/);
      assert.equal(children.length, 1, 'one restarted server');
      assert.ok(readFileSync(`/proc/${children[0]}/environ`, 'utf8').split('\0').includes(`MALLOC_MMAP_THRESHOLD_=${SERVER_MMAP_THRESHOLD}`));
    }
    rows.push({ case: '`npad serve` start', request: 'GET /readyz until ready', outcome: `${sawNotReady ? '503 while the model loads, then ' : ''}200 once loaded` });

    const detector = await Detector.load(modelFile);
    const models = (await (await fetch(`${serve.url}/v1/models`)).json()) as { models: { name: string; method: string; file: string | null; threshold: { score: number; source: string } }[] };
    assert.equal(models.models[0]!.name, 'bottle');
    assert.equal(models.models[0]!.file, path.basename(modelFile), 'the model file by its base name, no server path');
    assert.equal(models.models[0]!.threshold.score, detector.calibration!.imageThreshold);
    assert.equal(models.models[0]!.threshold.source, 'holdout');

    const file = testImage('broken_large');
    const bytes = await readFile(file);
    const res = await fetch(`${serve.url}/v1/models/bottle/predict?mask=1`, { method: 'POST', body: bytes, headers: { 'Content-Type': 'image/png' } });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { verdict: string; score: number; normalised_score: number; overlay_png: string; mask_png: string };
    const expected = await libraryPrediction(detector, file);
    assert.equal(body.verdict, expected.verdict);
    assert.ok(Math.abs(body.score - expected.score) <= 1e-5 * Math.abs(expected.score), `served ${body.score}, library ${expected.score}`);
    const overlayMeta = await sharp(Buffer.from(body.overlay_png, 'base64')).metadata();
    const maskMeta = await sharp(Buffer.from(body.mask_png, 'base64')).metadata();
    assert.deepEqual([overlayMeta.width, overlayMeta.height, maskMeta.width, maskMeta.height], [256, 256, 256, 256]);
    rows.push({ case: '`npad serve` predict', request: 'POST broken_large/000.png, ?mask=1', outcome: `200, ${body.verdict}, score equal to the library's; overlay and mask PNGs 256×256, the photo's size` });

    // SIGTERM while requests are being scored and queued: all are answered, then the process exits 0. The signal
    // is sent once the first answer is back, so the server has surely received the others (one image is scored
    // at a time, each taking some 200 ms).
    const inFlight = [0, 1, 2, 3].map(() =>
      fetch(`${serve.url}/v1/models/bottle/predict`, { method: 'POST', body: bytes, headers: { 'Content-Type': 'image/png' } }).then((r) => r.status),
    );
    await inFlight[0];
    serve.child.kill('SIGTERM');
    const statuses = await Promise.all(inFlight);
    const code = await serve.exit;
    assert.deepEqual(statuses, [200, 200, 200, 200]);
    assert.equal(code, 0, serve.stderr());
    assert.match(serve.stderr(), /stopping on SIGTERM/);
    assert.match(serve.stderr(), /stopped/);
    rows.push({ case: 'SIGTERM with requests in flight', request: '4 predictions at once, SIGTERM when the first is answered', outcome: `answers ${statuses.join(', ')}; then "stopped", exit code ${code}` });
  } finally {
    if (serve.child.exitCode === null) serve.child.kill('SIGKILL');
  }
}));

test('npad serve: user mistakes are one line and exit code 2', { skip: !haveData && 'shared bottle data not found' }, run.wrap(async () => {
  const serveOnce = async (args: string[]): Promise<{ code: number | null; stderr: string }> => {
    const { out, exit } = npadServe(args);
    const code = await exit;
    return { code, stderr: out.stderr };
  };
  const uncalibrated = path.join(tmp, 'uncalibrated.npad');
  const detector = await Detector.load(modelFile);
  detector.setCalibration(null);
  await detector.save(uncalibrated);
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  const port = String((blocker.address() as net.AddressInfo).port);
  // name, request shown in the docs, arguments, expected message
  const cases: [string, string, string[], RegExp][] = [
    ['model file missing', '`npad serve $TMP/none.npad --port 0`', [path.join(tmp, 'none.npad'), '--port', '0'], /none\.npad/],
    ['model without a threshold', '`npad serve $TMP/uncalibrated.npad`', [uncalibrated, '--port', '0'], /uncalibrated\.npad: the model has no score threshold.*npad calibrate/],
    ['port in use', '`npad serve MODEL --port <taken>`', [modelFile, '--port', port], /is already in use/],
    ['bad model name', '`npad serve "a b=MODEL"`', [`a b=${modelFile}`], /cannot serve it under the name "a b"/],
    ['bad flag value', '`npad serve MODEL --queue=-1`', [modelFile, '--queue=-1'], /--queue: expected an integer ≥ 0, got '-1'/],
  ];
  try {
    // In parallel: each is a process start (a few seconds), and they do not interfere.
    const results = await Promise.all(cases.map(([, , args]) => serveOnce(args)));
    cases.forEach(([name, request, , pattern], i) => {
      const r = results[i]!;
      assert.equal(r.code, 2, `${name}: ${r.stderr}`);
      assert.match(r.stderr, pattern, name);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
      const line = r.stderr.trim().split('\n').pop()!.replaceAll(tmp, '$TMP').replaceAll(port, 'PORT');
      rows.push({ case: name, request, outcome: `exit ${r.code}: \`${line}\`` });
    });
  } finally {
    blocker.close();
  }
}));

test('load: 30 requests from 8 clients against a real model, no errors', { skip: !haveData && 'shared bottle data not found' }, run.wrap(async () => {
  const detector = await Detector.load(modelFile);
  const { server, url } = await startServer([await DetectorModel.create(detector, 'bottle', modelFile, 40_000_000)]);
  try {
    const images = await bottleTestImages(6);
    const report = await runLoad({ url, model: 'bottle', images, requests: 30, concurrency: 8, maxSeconds: 120 });
    assert.equal(report.errors, 0, report.errorSamples.join('; '));
    assert.equal(report.served + report.rejected, 30);
    assert.equal(report.rejected, 0, 'the default queue (16) holds 8 clients');
    rows.push({
      case: 'load (bench/load.ts)',
      request: '30 predictions, 8 concurrent clients, queue 16',
      outcome: `${report.served} served, ${report.errors} errors, ${report.rejected} rejected (503)`,
    });
  } finally {
    await server.close();
  }
}));
