/**
 * The evaluation report as one self-contained HTML file: inline CSS, inline SVG charts, images as data: URIs and a
 * few lines of inline script (sorting the image table, enlarging a thumbnail); nothing fetched, so it can be mailed,
 * archived or opened offline. It reads as a line engineer asks: first what the model does at its threshold (the
 * verdict counts and the score histogram), then every image, each defect type, the options, and only then the
 * benchmark metrics and curves.
 */
import { escapeXml } from './svgCurves.js';

/** One picture of the gallery. */
export interface GalleryItem {
  /** first caption line, e.g. the image's path in the dataset */
  title: string;
  /** further caption lines */
  lines: readonly string[];
  /** the picture, a PNG */
  png: Buffer;
}

/** A titled row of pictures. */
export interface GallerySection {
  heading: string;
  /** one sentence on what is shown */
  note: string;
  items: readonly GalleryItem[];
}

/** The verdicts at the threshold, as a confusion matrix. */
export interface VerdictCounts {
  /** how the threshold was set, one sentence */
  threshold: string;
  goodCalledGood: number;
  /** false alarms */
  goodCalledDefective: number;
  /** misses */
  defectiveCalledGood: number;
  defectiveCalledDefective: number;
}

/** One test image in the per-image table. */
export interface ImageRow {
  /** its path in the dataset */
  name: string;
  /** 'good' or its defect folder */
  defect: string;
  label: 0 | 1;
  score: number;
  /** the score on the normalised scale (0.5 at the threshold) */
  normalised: number;
  verdict: 'good' | 'defective';
  /** the overlay, JPEG */
  thumbnail: Buffer;
}

/** One defect type's results. */
export interface DefectRow {
  defect: string;
  images: number;
  /** called defective at the threshold */
  found: number;
  /** image AUROC of this defect's images against the good ones */
  imageAuroc: number;
  /** pixel AUROC over the good images and this defect's masked ones, null without masks */
  pixelAuroc: number | null;
}

/** Everything the report shows. */
export interface HtmlReport {
  /** page title and heading */
  title: string;
  /** line under the heading (e.g. the dataset folder) */
  subtitle: string;
  /** the verdicts at the threshold */
  verdicts: VerdictCounts;
  /** the score histogram, inline `<svg>` */
  histogram: string;
  /** every test image */
  images: readonly ImageRow[];
  /** each defect type */
  defects: readonly DefectRow[];
  /** the detector's options, name → value */
  options: readonly (readonly [string, string])[];
  /** the headline metrics, label → formatted value */
  metrics: readonly (readonly [string, string])[];
  /** further facts (counts, threshold, configuration, timings), label → formatted value */
  details: readonly (readonly [string, string])[];
  /** inline `<svg>` charts */
  charts: readonly string[];
  /** picture rows */
  galleries: readonly GallerySection[];
  /** when the report was made, ISO 8601 */
  generatedAt: string;
}

const STYLE = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto; max-width: 1180px; color: #1d232b; padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 2px; } h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #dde2e8; padding-bottom: 4px; }
.subtitle { color: #5a6573; margin: 0 0 16px; word-break: break-all; }
table { border-collapse: collapse; } td, th { padding: 3px 14px 3px 0; text-align: left; vertical-align: top; }
table.metrics td.value { font-variant-numeric: tabular-nums; font-weight: 600; font-size: 18px; }
table.details td:first-child { color: #5a6573; white-space: nowrap; } table.details td { word-break: break-word; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
svg.chart { background: #fff; border: 1px solid #e3e7ec; border-radius: 4px; }
svg.chart .grid { stroke: #eef1f4; } svg.chart .frame { fill: none; stroke: #9aa5b1; }
svg.chart .diagonal { stroke: #b9c1ca; stroke-dasharray: 4 4; }
svg.chart text { font: 11px system-ui, sans-serif; fill: #3b4551; } svg.chart .title { font-size: 13px; font-weight: 600; }
.gallery { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; width: 224px; } figure img { width: 224px; height: 224px; image-rendering: auto; border-radius: 3px; display: block; }
figcaption { font-size: 12px; color: #3b4551; margin-top: 4px; overflow-wrap: anywhere; } figcaption b { color: #1d232b; }
.note { color: #5a6573; margin: 0 0 8px; } .legend span { display: inline-block; width: 12px; height: 12px; vertical-align: -2px; margin: 0 4px 0 10px; border-radius: 2px; }
footer { color: #8a94a0; margin-top: 32px; font-size: 12px; }
.first { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
table.confusion td, table.confusion th { padding: 6px 14px; text-align: center; border: 1px solid #dde2e8; }
table.confusion td.count { font-size: 22px; font-weight: 600; font-variant-numeric: tabular-nums; }
table.confusion td.ok { background: #eaf6ee; } table.confusion td.bad { background: #fdecea; }
table.confusion small { display: block; font-size: 12px; font-weight: 400; color: #5a6573; }
table.images { width: 100%; } table.images th { cursor: pointer; user-select: none; border-bottom: 1px solid #dde2e8; white-space: nowrap; }
table.images th[aria-sort=ascending]::after { content: " ▲"; } table.images th[aria-sort=descending]::after { content: " ▼"; }
table.images td { border-bottom: 1px solid #f0f2f5; vertical-align: middle; font-variant-numeric: tabular-nums; }
table.images tr.wrong td { background: #fdecea; }
img.thumb { width: 56px; height: 56px; cursor: zoom-in; border-radius: 2px; display: block; }
img.thumb.big { width: 224px; height: 224px; cursor: zoom-out; }
table.defects td, table.options td { padding-right: 18px; font-variant-numeric: tabular-nums; }
`;

/** Sorts the image table by a clicked header and enlarges a clicked thumbnail; nothing else. */
const SCRIPT = `
document.querySelectorAll('table.images th[data-key]').forEach(function (th) {
  th.addEventListener('click', function () {
    var table = th.closest('table'), body = table.tBodies[0], key = th.dataset.key;
    var up = th.getAttribute('aria-sort') !== 'ascending';
    table.querySelectorAll('th').forEach(function (h) { h.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', up ? 'ascending' : 'descending');
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.dataset[key], y = b.dataset[key], nx = Number(x), ny = Number(y);
      var c = isNaN(nx) || isNaN(ny) ? x.localeCompare(y) : nx - ny;
      return up ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
document.querySelectorAll('img.thumb').forEach(function (img) {
  img.addEventListener('click', function () { img.classList.toggle('big'); });
});
`;

/** The report as a complete HTML document. */
export function renderHtmlReport(report: HtmlReport): string {
  const rows = (pairs: readonly (readonly [string, string])[], valueClass = ''): string =>
    pairs.map(([k, v]) => `<tr><td>${escapeXml(k)}</td><td${valueClass ? ` class="${valueClass}"` : ''}>${escapeXml(v)}</td></tr>`).join('\n');
  const galleries = report.galleries
    .map(
      (g) => `<h2>${escapeXml(g.heading)}</h2>
<p class="note">${escapeXml(g.note)}</p>
<div class="gallery">
${g.items
  .map(
    (item) => `<figure><img alt="${escapeXml(item.title)}" src="data:image/png;base64,${item.png.toString('base64')}">
<figcaption><b>${escapeXml(item.title)}</b>${item.lines.map((l) => `<br>${escapeXml(l)}`).join('')}</figcaption></figure>`,
  )
  .join('\n')}
</div>`,
    )
    .join('\n');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeXml(report.title)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>${escapeXml(report.title)}</h1>
<p class="subtitle">${escapeXml(report.subtitle)}</p>
<h2>At the threshold</h2>
<p class="note">${escapeXml(report.verdicts.threshold)}</p>
<div class="first">
${confusionTable(report.verdicts)}
${report.histogram}
</div>
<h2>Every image</h2>
<p class="note">Click a column to sort, a picture to enlarge it. Rows the threshold gets wrong are red.</p>
${imageTable(report.images)}
<h2>Each defect type</h2>
${defectTable(report.defects)}
<h2>Options</h2>
<table class="options">
${rows(report.options)}
</table>
<h2>Metrics</h2>
<table class="metrics">
${rows(report.metrics, 'value')}
</table>
<h2>Curves</h2>
<div class="charts">
${report.charts.join('\n')}
</div>
${galleries}
${report.galleries.length ? `<p class="legend">Overlays: the image as the network saw it (resized, centre-cropped), tinted by the anomaly map<span style="background:#00008c"></span>typical good<span style="background:#ffe600"></span>pixel threshold<span style="background:#dc0000"></span>far above; outlines:<span style="background:#fff;border:1px solid #999"></span>predicted defect<span style="background:#00e600"></span>ground truth.</p>` : ''}
<h2>Details</h2>
<table class="details">
${rows(report.details)}
</table>
<footer>npad evaluation report, ${escapeXml(report.generatedAt)}. Scores and thresholds: docs/scores.md in the npad repository.</footer>
<script>${SCRIPT}</script>
</body>
</html>
`;
}

const fixed = (x: number, digits = 3): string => (Number.isFinite(x) ? x.toFixed(digits) : String(x));
const percent = (x: number | null): string => (x === null ? 'no masks' : `${(100 * x).toFixed(2)} %`);

/** The verdicts at the threshold as a 2 × 2 table: actual class by verdict. */
function confusionTable(v: VerdictCounts): string {
  return `<table class="confusion">
<tr><th></th><th>called good</th><th>called defective</th></tr>
<tr><th>good (${v.goodCalledGood + v.goodCalledDefective})</th><td class="count ok">${v.goodCalledGood}</td><td class="count ${v.goodCalledDefective ? 'bad' : 'ok'}">${v.goodCalledDefective}<small>false alarms</small></td></tr>
<tr><th>defective (${v.defectiveCalledGood + v.defectiveCalledDefective})</th><td class="count ${v.defectiveCalledGood ? 'bad' : 'ok'}">${v.defectiveCalledGood}<small>missed</small></td><td class="count ok">${v.defectiveCalledDefective}</td></tr>
</table>`;
}

/** Every image: thumbnail, name, class, score, normalised score, verdict; sortable by each column. */
function imageTable(images: readonly ImageRow[]): string {
  const head = `<thead><tr><th>overlay</th><th data-key="name">image</th><th data-key="defect">class</th><th data-key="score">score</th><th data-key="normalised" aria-sort="descending">normalised</th><th data-key="verdict">verdict</th></tr></thead>`;
  const ordered = [...images].sort((a, b) => b.normalised - a.normalised);
  const body = ordered
    .map((r) => {
      const wrong = (r.verdict === 'defective') !== (r.label === 1);
      const data = `data-name="${escapeXml(r.name)}" data-defect="${escapeXml(r.defect)}" data-score="${r.score}" data-normalised="${r.normalised}" data-verdict="${r.verdict}"`;
      return `<tr ${data}${wrong ? ' class="wrong"' : ''}><td><img class="thumb" alt="${escapeXml(r.name)}" src="data:image/jpeg;base64,${r.thumbnail.toString('base64')}"></td><td>${escapeXml(r.name)}</td><td>${escapeXml(r.defect)}</td><td>${fixed(r.score)}</td><td>${fixed(r.normalised)}</td><td>${r.verdict}</td></tr>`;
    })
    .join('\n');
  return `<table class="images">${head}<tbody>\n${body}\n</tbody></table>`;
}

/** Each defect type: images, found at the threshold, image AUROC against the good images, pixel AUROC. */
function defectTable(defects: readonly DefectRow[]): string {
  const body = defects
    .map((d) => `<tr><td>${escapeXml(d.defect)}</td><td>${d.images}</td><td>${d.found} of ${d.images}</td><td>${percent(d.imageAuroc)}</td><td>${percent(d.pixelAuroc)}</td></tr>`)
    .join('\n');
  return `<table class="defects"><tr><th>defect</th><th>images</th><th>found at the threshold</th><th>image AUROC (vs good)</th><th>pixel AUROC</th></tr>\n${body}\n</table>`;
}
