/**
 * Line charts as inline SVG (ROC and PRO curves for the HTML report): no script, no external resource, and no
 * xmlns attribute, which inline SVG in HTML does not need.
 */

/** One curve of a chart. */
export interface CurveSeries {
  /** legend text */
  label: string;
  /** x coordinates, in data units */
  x: ArrayLike<number>;
  /** y coordinates, in data units, same length as x */
  y: ArrayLike<number>;
  /** CSS colour of the line */
  colour: string;
}

/** A chart: its axes and curves. */
export interface CurveChart {
  /** title above the plot */
  title: string;
  /** x axis label */
  xLabel: string;
  /** y axis label */
  yLabel: string;
  /** x axis range end (starts at 0) */
  xMax: number;
  /** y axis range end (starts at 0), default 1 */
  yMax?: number;
  /** the curves */
  series: readonly CurveSeries[];
  /** a dashed reference line from (0, 0) to (xMax, yMax), e.g. the chance diagonal of a ROC plot */
  diagonal?: boolean;
  /** marked points, e.g. the operating point at the threshold */
  points?: readonly { x: number; y: number; label: string; colour: string }[];
}

/** Escapes text for HTML and SVG content and attributes. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const WIDTH = 360;
const HEIGHT = 300;
const MARGIN = { left: 48, right: 12, top: 28, bottom: 40 };

/** Rounds a coordinate to 0.1 px, enough for the eye and half the text. */
export function px(v: number): string {
  return (Math.round(v * 10) / 10).toString();
}

/** The chart as an `<svg>` element. */
export function renderCurveSvg(chart: CurveChart): string {
  const yMax = chart.yMax ?? 1;
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const sx = (x: number): number => MARGIN.left + (plotW * Math.min(Math.max(x, 0), chart.xMax)) / chart.xMax;
  const sy = (y: number): number => MARGIN.top + plotH - (plotH * Math.min(Math.max(y, 0), yMax)) / yMax;
  const parts: string[] = [];
  parts.push(`<svg class="chart" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}" role="img" aria-label="${escapeXml(chart.title)}">`);
  parts.push(`<text x="${WIDTH / 2}" y="16" text-anchor="middle" class="title">${escapeXml(chart.title)}</text>`);
  // Grid and ticks at fifths of each axis.
  for (let i = 0; i <= 5; i++) {
    const xv = (chart.xMax * i) / 5;
    const yv = (yMax * i) / 5;
    parts.push(`<line x1="${px(sx(xv))}" y1="${MARGIN.top}" x2="${px(sx(xv))}" y2="${MARGIN.top + plotH}" class="grid"/>`);
    parts.push(`<line x1="${MARGIN.left}" y1="${px(sy(yv))}" x2="${MARGIN.left + plotW}" y2="${px(sy(yv))}" class="grid"/>`);
    parts.push(`<text x="${px(sx(xv))}" y="${MARGIN.top + plotH + 14}" text-anchor="middle" class="tick">${Number(xv.toPrecision(3))}</text>`);
    parts.push(`<text x="${MARGIN.left - 4}" y="${px(sy(yv) + 4)}" text-anchor="end" class="tick">${Number(yv.toPrecision(3))}</text>`);
  }
  parts.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" class="frame"/>`);
  parts.push(`<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 6}" text-anchor="middle" class="label">${escapeXml(chart.xLabel)}</text>`);
  parts.push(`<text x="12" y="${MARGIN.top + plotH / 2}" text-anchor="middle" class="label" transform="rotate(-90 12 ${MARGIN.top + plotH / 2})">${escapeXml(chart.yLabel)}</text>`);
  if (chart.diagonal) parts.push(`<line x1="${px(sx(0))}" y1="${px(sy(0))}" x2="${px(sx(chart.xMax))}" y2="${px(sy(yMax))}" class="diagonal"/>`);
  chart.series.forEach((s, k) => {
    if (s.x.length !== s.y.length) throw new RangeError(`curve ${s.label}: ${s.x.length} x values but ${s.y.length} y values`);
    const coords: string[] = [];
    for (let i = 0; i < s.x.length; i++) coords.push(`${px(sx(s.x[i]!))},${px(sy(s.y[i]!))}`);
    parts.push(`<polyline points="${coords.join(' ')}" fill="none" stroke="${escapeXml(s.colour)}" stroke-width="2"/>`);
    const ly = MARGIN.top + plotH - 10 - 14 * (chart.series.length - 1 - k);
    parts.push(`<line x1="${MARGIN.left + plotW - 150}" y1="${ly - 4}" x2="${MARGIN.left + plotW - 134}" y2="${ly - 4}" stroke="${escapeXml(s.colour)}" stroke-width="2"/>`);
    parts.push(`<text x="${MARGIN.left + plotW - 130}" y="${ly}" class="legend">${escapeXml(s.label)}</text>`);
  });
  for (const p of chart.points ?? []) {
    parts.push(`<circle cx="${px(sx(p.x))}" cy="${px(sy(p.y))}" r="4" fill="${escapeXml(p.colour)}"><title>${escapeXml(p.label)}</title></circle>`);
  }
  parts.push('</svg>');
  return parts.join('');
}
