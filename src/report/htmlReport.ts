/**
 * The evaluation report as one self-contained HTML file: inline CSS, inline SVG charts, images as data: URIs,
 * no script and nothing fetched, so it can be mailed, archived or opened offline.
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

/** Everything the report shows. */
export interface HtmlReport {
  /** page title and heading */
  title: string;
  /** line under the heading (e.g. the dataset folder) */
  subtitle: string;
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
</body>
</html>
`;
}
