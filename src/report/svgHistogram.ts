/**
 * The score histogram of the report's first screen: good and defective images' scores in the same bins, with the
 * threshold drawn, so a line engineer sees at once how far apart the two groups are and where the threshold cuts.
 * Inline SVG, as the curves (svgCurves.ts).
 */
import { escapeXml, px } from './svgCurves.js';

/** One group of scores and how it is drawn. */
export interface HistogramGroup {
  label: string;
  scores: readonly number[];
  colour: string;
}

const WIDTH = 520;
const HEIGHT = 240;
const MARGIN = { left: 40, right: 12, top: 28, bottom: 40 };

/** Counts of `scores` in `bins` equal bins over [lo, hi] (the last bin closed). */
export function binCounts(scores: readonly number[], lo: number, hi: number, bins: number): number[] {
  const counts = new Array<number>(bins).fill(0);
  const width = (hi - lo) / bins;
  for (const s of scores) counts[width > 0 ? Math.min(bins - 1, Math.max(0, Math.floor((s - lo) / width))) : 0]!++;
  return counts;
}

/**
 * The histogram as an `<svg>`: each bin's groups side by side, the threshold a vertical line.
 * @param bins number of bins (default 30)
 */
export function renderHistogramSvg(title: string, groups: readonly HistogramGroup[], threshold: number, bins = 30): string {
  const all = groups.flatMap((g) => g.scores).concat([threshold]);
  let lo = Math.min(...all);
  let hi = Math.max(...all);
  if (hi === lo) [lo, hi] = [lo - 0.5, hi + 0.5];
  const counts = groups.map((g) => binCounts(g.scores, lo, hi, bins));
  const top = Math.max(1, ...counts.flat());
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const sx = (v: number): number => MARGIN.left + (plotW * (v - lo)) / (hi - lo);
  const sy = (c: number): number => MARGIN.top + plotH - (plotH * c) / top;
  const binW = plotW / bins;
  const barW = binW / groups.length;
  const parts: string[] = [];
  parts.push(`<svg class="chart histogram" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}" role="img" aria-label="${escapeXml(title)}">`);
  parts.push(`<text x="${MARGIN.left}" y="16" class="title">${escapeXml(title)}</text>`);
  for (let i = 0; i <= 4; i++) {
    const c = Math.round((top * i) / 4);
    parts.push(`<line x1="${MARGIN.left}" y1="${px(sy(c))}" x2="${MARGIN.left + plotW}" y2="${px(sy(c))}" class="grid"/>`);
    parts.push(`<text x="${MARGIN.left - 4}" y="${px(sy(c) + 4)}" text-anchor="end" class="tick">${c}</text>`);
  }
  for (let i = 0; i <= 5; i++) {
    const v = lo + ((hi - lo) * i) / 5;
    parts.push(`<text x="${px(sx(v))}" y="${MARGIN.top + plotH + 14}" text-anchor="middle" class="tick">${Number(v.toPrecision(3))}</text>`);
  }
  counts.forEach((bars, g) => {
    bars.forEach((c, b) => {
      if (c === 0) return;
      const x = MARGIN.left + b * binW + g * barW;
      parts.push(`<rect x="${px(x)}" y="${px(sy(c))}" width="${px(barW)}" height="${px(sy(0) - sy(c))}" fill="${escapeXml(groups[g]!.colour)}"><title>${escapeXml(groups[g]!.label)}: ${c}</title></rect>`);
    });
  });
  parts.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" class="frame"/>`);
  parts.push(`<line x1="${px(sx(threshold))}" y1="${MARGIN.top - 4}" x2="${px(sx(threshold))}" y2="${MARGIN.top + plotH}" stroke="#c0182b" stroke-width="2" stroke-dasharray="5 3" class="threshold"/>`);
  parts.push(`<text x="${px(sx(threshold) + 4)}" y="${MARGIN.top + 8}" class="legend" fill="#c0182b">threshold</text>`);
  parts.push(`<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 6}" text-anchor="middle" class="label">image score</text>`);
  groups.forEach((g, k) => {
    // In the title line, right of the title: never over the bars.
    const lx = MARGIN.left + plotW - 200 + 100 * k;
    const ly = 16;
    parts.push(`<rect x="${lx}" y="${ly - 9}" width="10" height="10" fill="${escapeXml(g.colour)}"/><text x="${lx + 14}" y="${ly}" class="legend">${escapeXml(`${g.label} (${g.scores.length})`)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}
