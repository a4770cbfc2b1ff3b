/**
 * The web page `npad serve` shows at `/`: drop images (or pick them), see each one's heatmap overlay, score and
 * verdict in upload order, and move a threshold slider that re-judges the shown images in the browser on the
 * normalised scale (0.5 = the model's own threshold). Switching the model scores the shown images again; a click on
 * an overlay enlarges it, with the map toggled on and off; the results download as CSV or JSON Lines; Clear empties
 * the page. One self-contained document: inline CSS and script, no external
 * resources (the server's Content-Security-Policy forbids them), so it works on an isolated factory network.
 *
 * Kept as a TypeScript string so that it ships inside the compiled package with no file lookup at run time.
 * The script avoids backticks and dollar-brace so that it can sit in this template literal unchanged.
 */
export const PAGE_HTML = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>npad inspection</title>
<link rel="icon" href="data:,">
<style>
  :root { --good: #1b7f3b; --bad: #b3261e; --ink: #1d1d1f; --muted: #5f6368; --line: #d9dce1; --bg: #f6f7f9; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: var(--bg); }
  header { display: flex; flex-wrap: wrap; gap: 12px 24px; align-items: center; padding: 14px 24px; background: #fff; border-bottom: 1px solid var(--line); }
  h1 { font-size: 18px; margin: 0 12px 0 0; }
  select, button { font: inherit; padding: 4px 8px; }
  #model-info { color: var(--muted); font-size: 13px; }
  #controls { display: grid; grid-template-columns: minmax(260px, 1fr) minmax(260px, 1fr); gap: 16px 24px; padding: 16px 24px; }
  #drop { border: 2px dashed #9aa0a6; border-radius: 10px; padding: 22px; text-align: center; background: #fff; cursor: pointer; }
  #drop.over { border-color: #1a73e8; background: #eef4fe; }
  #drop input { display: block; margin: 10px auto 0; }
  .threshold { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 12px 16px; }
  .threshold input[type=range] { width: 100%; }
  .hint { color: var(--muted); font-size: 13px; margin: 6px 0 0; }
  #summary { grid-column: 1 / -1; margin: 0; min-height: 1.4em; color: var(--muted); }
  #results { display: flex; flex-wrap: wrap; gap: 16px; padding: 0 24px 32px; }
  .card { width: 260px; background: #fff; border: 1px solid var(--line); border-radius: 10px; overflow: hidden; border-top: 6px solid var(--line); }
  .card[data-verdict=good] { border-top-color: var(--good); }
  .card[data-verdict=defective] { border-top-color: var(--bad); }
  .card.failed { border-top-color: #8a8a8a; }
  .card .overlay { display: block; width: 258px; height: 258px; object-fit: contain; background: #222; }
  .card .placeholder { display: flex; align-items: center; justify-content: center; width: 258px; height: 258px; background: #eceef1; color: var(--muted); }
  .card .text { padding: 8px 12px 12px; }
  .card .name { font-size: 14px; margin: 0 0 4px; overflow-wrap: anywhere; }
  .verdict { display: inline-block; font-weight: 600; padding: 1px 8px; border-radius: 10px; color: #fff; background: #8a8a8a; }
  .card[data-verdict=good] .verdict { background: var(--good); }
  .card[data-verdict=defective] .verdict { background: var(--bad); }
  .score, .meta, .error { margin: 4px 0 0; font-size: 13px; }
  .meta { color: var(--muted); }
  .error { color: var(--bad); overflow-wrap: anywhere; }
  .card .overlay { cursor: zoom-in; }
  #actions { grid-column: 1 / -1; display: flex; gap: 8px; flex-wrap: wrap; align-items: center; }
  #actions #summary { flex: 1; }
  #zoom { border: none; border-radius: 10px; padding: 12px; max-width: 96vw; }
  #zoom::backdrop { background: rgba(0, 0, 0, 0.6); }
  #zoom img { display: block; width: min(80vh, 90vw); height: min(80vh, 90vw); object-fit: contain; background: #222; image-rendering: auto; }
  #zoom .bar { display: flex; gap: 8px; align-items: center; margin-top: 8px; }
  #zoom .bar span { flex: 1; color: var(--muted); font-size: 13px; }
  @media (max-width: 640px) { #controls { grid-template-columns: 1fr; } }
</style>
</head>
<body>
<header>
  <h1>npad inspection</h1>
  <label>Model <select id="model" aria-label="model"><option value="">loading…</option></select></label>
  <span id="model-info"></span>
  <form id="auth" hidden><label>Token <input id="token" type="password" autocomplete="current-password" size="24"></label> <button type="submit">Use</button></form>
</header>
<section id="controls">
  <div id="drop" tabindex="0" aria-label="drop images here or press Enter to choose files">
    <strong>Drop images here</strong> or choose files
    <input id="file" type="file" accept="image/*,.bmp,.tif,.tiff" multiple>
  </div>
  <div class="threshold">
    <label for="threshold">Threshold on the normalised score: <output id="threshold-value" for="threshold">0.50</output></label>
    <input id="threshold" type="range" min="0" max="1" step="0.01" value="0.5">
    <button id="reset-threshold" type="button">Model's threshold (0.5)</button>
    <p class="hint">0.5 is the model's own threshold (raw score <span id="raw-threshold">–</span>); lower finds more defects and more false alarms.
      Moving the slider re-judges the images shown, here in the browser; the white outline in each overlay stays at the model's pixel threshold.</p>
  </div>
  <div id="actions">
    <p id="summary" role="status" aria-live="polite"></p>
    <button id="download-csv" type="button" disabled>Download CSV</button>
    <button id="download-jsonl" type="button" disabled>Download JSON Lines</button>
    <button id="clear" type="button" disabled>Clear</button>
  </div>
</section>
<main id="results" aria-label="results"></main>
<dialog id="zoom" aria-label="enlarged image">
  <img id="zoom-image" alt="">
  <div class="bar"><span id="zoom-caption"></span><button id="zoom-map" type="button">Map off</button><button id="zoom-close" type="button">Close</button></div>
</dialog>
<script>
(function () {
  'use strict';
  var byId = function (id) { return document.getElementById(id); };
  var modelSelect = byId('model');
  var slider = byId('threshold');
  var results = byId('results');
  var models = [];
  var pending = [];
  var busy = false;
  // Every image shown, in upload order: its file, its name on the page (told apart when two share a name), its
  // card, its object URL (the original, for the enlarged view) and its last answer.
  var items = [];
  var nameCounts = {};
  var generation = 0;

  function sleep(ms) { return new Promise(function (resolve) { setTimeout(resolve, ms); }); }

  // A server started with a token (docs/security.md) answers 401 until the page sends it; it is kept for this tab.
  var token = sessionStorage.getItem('npad-token') || '';
  function api(url, init) {
    init = init || {};
    if (token) init.headers = Object.assign({}, init.headers, { Authorization: 'Bearer ' + token });
    return fetch(url, init);
  }
  function askForToken(message) {
    byId('auth').hidden = false;
    byId('summary').textContent = message;
    byId('token').focus();
  }
  byId('auth').addEventListener('submit', function (e) {
    e.preventDefault();
    token = byId('token').value.trim();
    sessionStorage.setItem('npad-token', token);
    byId('auth').hidden = true;
    loadModels();
  });
  function threshold() { return Number(slider.value); }
  function format(x, digits) { return Number.isFinite(x) ? x.toFixed(digits) : String(x); }

  function el(tag, className, text) {
    var e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function showModelInfo() {
    var m = models.find(function (x) { return x.name === modelSelect.value; });
    if (!m) return;
    var c = m.config || {};
    var parts = [m.method];
    if (c.input_width) parts.push(c.input_width + '×' + c.input_height + ' px input');
    if (c.dim) parts.push('d = ' + c.dim);
    parts.push('threshold ' + format(m.threshold.score, 3) + ' (' + m.threshold.source + ')');
    byId('model-info').textContent = parts.join(' · ');
    byId('raw-threshold').textContent = format(m.threshold.score, 3);
  }

  async function loadModels() {
    for (;;) {
      try {
        var res = await api('/v1/models');
        if (res.status === 401) { askForToken('This server needs a token: enter it above.'); return; }
        if (res.ok) {
          models = (await res.json()).models;
          modelSelect.textContent = '';
          models.forEach(function (m) { var o = el('option', '', m.name); o.value = m.name; modelSelect.appendChild(o); });
          showModelInfo();
          summarise();
          return;
        }
        byId('summary').textContent = 'Waiting for the models to load…';
      } catch (e) {
        byId('summary').textContent = 'The server does not answer; retrying…';
      }
      await sleep(1000);
    }
  }

  // Verdict from the normalised score and the slider: the same rule the server applies at 0.5.
  function judge(card) {
    if (card.dataset.normalised === undefined) return;
    var verdict = Number(card.dataset.normalised) >= threshold() ? 'defective' : 'good';
    card.dataset.verdict = verdict;
    card.querySelector('.verdict').textContent = verdict;
  }

  function summarise() {
    var cards = Array.prototype.slice.call(results.querySelectorAll('.card'));
    var good = cards.filter(function (c) { return c.dataset.verdict === 'good'; }).length;
    var bad = cards.filter(function (c) { return c.dataset.verdict === 'defective'; }).length;
    var failed = cards.filter(function (c) { return c.classList.contains('failed'); }).length;
    var waiting = cards.length - good - bad - failed;
    var text = cards.length === 0 ? 'No images yet.' : good + ' good · ' + bad + ' defective';
    if (failed) text += ' · ' + failed + ' failed';
    if (waiting) text += ' · ' + waiting + ' being scored';
    byId('summary').textContent = text;
  }

  function onThreshold() {
    byId('threshold-value').textContent = format(threshold(), 2);
    results.querySelectorAll('.card').forEach(judge);
    summarise();
  }

  // A name for the page: the file's, with " (2)", " (3)"… for later files of the same name.
  function pageName(file) {
    var n = (nameCounts[file.name] || 0) + 1;
    nameCounts[file.name] = n;
    return n === 1 ? file.name : file.name + ' (' + n + ')';
  }

  // The card in its waiting state (new, or scored again after a model switch).
  function resetCard(item) {
    var card = item.card;
    card.textContent = '';
    card.className = 'card';
    delete card.dataset.normalised;
    delete card.dataset.verdict;
    card.appendChild(el('div', 'placeholder', 'scoring…'));
    var text = el('div', 'text');
    text.appendChild(el('h2', 'name', item.name));
    text.appendChild(el('span', 'verdict', 'waiting'));
    card.appendChild(text);
    item.result = null;
  }

  function newItem(file) {
    var item = { file: file, name: pageName(file), card: el('article', 'card'), url: URL.createObjectURL(file), result: null };
    resetCard(item);
    results.appendChild(item.card);
    items.push(item);
    return item;
  }

  function showResult(item, r) {
    var card = item.card;
    item.result = r;
    var img = el('img', 'overlay');
    img.alt = 'heatmap overlay of ' + item.name;
    if (r.overlay_png) img.src = 'data:image/png;base64,' + r.overlay_png;
    img.addEventListener('click', function () { openZoom(item); });
    card.replaceChild(img, card.firstChild);
    card.dataset.normalised = String(r.normalised_score);
    var text = card.querySelector('.text');
    text.appendChild(el('p', 'score', 'score ' + format(r.normalised_score, 3) + ' (raw ' + format(r.score, 3) + ')'));
    text.appendChild(el('p', 'meta', r.model + ' · ' + r.image.width + '×' + r.image.height + ' · ' + Math.round(r.timings.total_ms) + ' ms'));
    // Let the slider reach every score shown, so each verdict can be flipped.
    var top = Math.max(1, Math.ceil(r.normalised_score * 100 + 1) / 100);
    if (top > Number(slider.max)) slider.max = String(top);
    judge(card);
  }

  function showFailure(item, message) {
    var card = item.card;
    card.classList.add('failed');
    card.firstChild.textContent = 'not scored';
    card.querySelector('.verdict').textContent = 'error';
    card.querySelector('.text').appendChild(el('p', 'error', message));
  }

  async function score(job) {
    for (var attempt = 0; attempt < 20; attempt++) {
      var form = new FormData();
      form.append('image', job.item.file, job.item.name);
      var res;
      try {
        res = await api('/v1/models/' + encodeURIComponent(job.model) + '/predict', { method: 'POST', body: form });
      } catch (e) {
        if (job.generation === generation) showFailure(job.item, 'the server did not answer (' + e.message + ')');
        return;
      }
      var body = await res.json().catch(function () { return null; });
      if (res.status === 503 && body && body.error && body.error.code === 'queue_full') {
        await sleep(1000 * Number(res.headers.get('Retry-After') || '1'));
        continue;
      }
      // An answer for a model since switched away from, or for a page since cleared, is dropped.
      if (job.generation !== generation) return;
      if (!res.ok) {
        showFailure(job.item, body && body.error ? body.error.message : 'HTTP ' + res.status);
        return;
      }
      showResult(job.item, body);
      return;
    }
    if (job.generation === generation) showFailure(job.item, 'the server stayed busy; try again later');
  }

  async function pump() {
    if (busy) return;
    busy = true;
    while (pending.length) {
      await score(pending.shift());
      summarise();
      updateButtons();
    }
    busy = false;
  }

  function queue(item) {
    pending.push({ item: item, model: modelSelect.value, generation: generation });
  }

  function addFiles(list) {
    if (!modelSelect.value) { byId('summary').textContent = 'The models are not loaded yet.'; return; }
    Array.prototype.forEach.call(list, function (file) { queue(newItem(file)); });
    summarise();
    updateButtons();
    pump();
  }

  // Another model: every image shown is scored again by it.
  function onModelChange() {
    showModelInfo();
    generation++;
    pending = [];
    items.forEach(function (item) { resetCard(item); queue(item); });
    summarise();
    updateButtons();
    pump();
  }

  function clearAll() {
    generation++;
    pending = [];
    items.forEach(function (item) { URL.revokeObjectURL(item.url); });
    items = [];
    nameCounts = {};
    results.textContent = '';
    summarise();
    updateButtons();
  }

  function updateButtons() {
    var scored = items.some(function (item) { return item.result; });
    byId('download-csv').disabled = !scored;
    byId('download-jsonl').disabled = !scored;
    byId('clear').disabled = items.length === 0;
  }

  // One record per scored image, with the verdict at the slider's threshold.
  function records() {
    return items.filter(function (item) { return item.result; }).map(function (item) {
      var r = item.result;
      return {
        file: item.name, model: r.model, verdict: Number(r.normalised_score) >= threshold() ? 'defective' : 'good',
        threshold: threshold(), score: r.score, normalised_score: r.normalised_score, defect_area: r.defect_area,
        width: r.image.width, height: r.image.height,
      };
    });
  }

  function download(name, type, text) {
    var a = el('a');
    a.href = URL.createObjectURL(new Blob([text], { type: type }));
    a.download = name;
    document.body.appendChild(a);
    a.click();
    setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  }

  function csvCell(v) {
    var t = String(v);
    return /[",\n\r]/.test(t) ? '"' + t.replace(/"/g, '""') + '"' : t;
  }

  function downloadCsv() {
    var rows = records();
    var keys = ['file', 'model', 'verdict', 'threshold', 'score', 'normalised_score', 'defect_area', 'width', 'height'];
    var lines = [keys.join(',')].concat(rows.map(function (r) { return keys.map(function (k) { return csvCell(r[k]); }).join(','); }));
    download('npad-results.csv', 'text/csv', lines.join('\r\n') + '\r\n');
  }

  function downloadJsonl() {
    download('npad-results.jsonl', 'application/x-ndjson', records().map(function (r) { return JSON.stringify(r); }).join('\n') + '\n');
  }

  // The enlarged view: the overlay, or with the map off the image as uploaded.
  var zoom = byId('zoom');
  var zoomItem = null;
  var mapOn = true;
  function showZoom() {
    byId('zoom-image').src = mapOn ? 'data:image/png;base64,' + zoomItem.result.overlay_png : zoomItem.url;
    byId('zoom-image').alt = (mapOn ? 'heatmap overlay of ' : '') + zoomItem.name;
    byId('zoom-map').textContent = mapOn ? 'Map off' : 'Map on';
    byId('zoom-caption').textContent = zoomItem.name + ' · ' + cardVerdict(zoomItem) + ' · score ' + format(zoomItem.result.normalised_score, 3);
  }
  function cardVerdict(item) { return item.card.dataset.verdict || ''; }
  function openZoom(item) {
    if (!item.result || !item.result.overlay_png) return;
    zoomItem = item;
    mapOn = true;
    showZoom();
    zoom.showModal();
  }
  byId('zoom-map').addEventListener('click', function () { mapOn = !mapOn; showZoom(); });
  byId('zoom-close').addEventListener('click', function () { zoom.close(); });
  zoom.addEventListener('click', function (e) { if (e.target === zoom) zoom.close(); });

  var drop = byId('drop');
  var input = byId('file');
  input.addEventListener('change', function () { addFiles(input.files); input.value = ''; });
  drop.addEventListener('click', function (e) { if (e.target !== input) input.click(); });
  drop.addEventListener('keydown', function (e) { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); input.click(); } });
  drop.addEventListener('dragover', function (e) { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', function () { drop.classList.remove('over'); });
  drop.addEventListener('drop', function (e) { e.preventDefault(); drop.classList.remove('over'); addFiles(e.dataTransfer.files); });
  // Dropping beside the zone must not make the browser navigate away to the image.
  window.addEventListener('dragover', function (e) { e.preventDefault(); });
  window.addEventListener('drop', function (e) { e.preventDefault(); });
  slider.addEventListener('input', onThreshold);
  byId('reset-threshold').addEventListener('click', function () { slider.value = '0.5'; onThreshold(); });
  modelSelect.addEventListener('change', onModelChange);
  byId('clear').addEventListener('click', clearAll);
  byId('download-csv').addEventListener('click', downloadCsv);
  byId('download-jsonl').addEventListener('click', downloadJsonl);
  loadModels();
})();
</script>
</body>
</html>
`;
