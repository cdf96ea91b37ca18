/**
 * A small line chart as SVG text: log-scale x (N, or offered rate), linear or log y, one
 * polyline per series, optional dashed horizontal target line. No dependency; what the charts in
 * docs/ need and nothing more.
 */
export interface Series {
  readonly name: string;
  readonly color: string;
  readonly points: ReadonlyArray<readonly [number, number]>;
  readonly dashed?: boolean;
}

export interface Panel {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly Series[];
  readonly logY?: boolean;
  /** x positions: every point's x is drawn at its index among these (categorical axis), labelled with xTicks' text. */
  readonly xTicks: ReadonlyArray<readonly [number, string]>;
}

const W = 520;
const H = 320;
const M = { left: 70, right: 20, top: 36, bottom: 50 };

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function panel(p: Panel, dx: number): string {
  const ys = p.series.flatMap((s) => s.points.map(([, y]) => y)).filter((y) => Number.isFinite(y) && (!p.logY || y > 0));
  const yMax = ys.length === 0 ? 1 : Math.max(...ys) * (p.logY ? 2 : 1.1);
  const yMin = p.logY ? Math.max(Math.min(...ys) / 2, 1e-3) : 0;
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const xIndex = new Map(p.xTicks.map(([x], i) => [x, i]));
  const xPos = (x: number): number => M.left + (p.xTicks.length <= 1 ? plotW / 2 : ((xIndex.get(x) ?? 0) / (p.xTicks.length - 1)) * plotW);
  const yPos = (y: number): number => {
    const f = p.logY ? (Math.log10(y) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin)) : (y - yMin) / (yMax - yMin);
    return M.top + plotH - f * plotH;
  };
  const parts: string[] = [`<g transform="translate(${dx},0)">`];
  parts.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${esc(p.title)}</text>`);
  parts.push(`<rect x="${M.left}" y="${M.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>`);
  const yTicks = p.logY
    ? Array.from({ length: 12 }, (_, i) => 10 ** (Math.floor(Math.log10(yMin)) + i)).filter((v) => v >= yMin && v <= yMax)
    : Array.from({ length: 5 }, (_, i) => yMin + ((yMax - yMin) * i) / 4);
  for (const v of yTicks) {
    const y = yPos(v);
    parts.push(`<line x1="${M.left}" x2="${M.left + plotW}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" stroke="#eee"/>`);
    parts.push(
      `<text x="${M.left - 6}" y="${(y + 4).toFixed(1)}" text-anchor="end" font-size="11">${v >= 100 ? v.toFixed(0) : Number(v.toPrecision(2))}</text>`,
    );
  }
  for (const [x, label] of p.xTicks)
    parts.push(`<text x="${xPos(x).toFixed(1)}" y="${M.top + plotH + 16}" text-anchor="middle" font-size="11">${esc(label)}</text>`);
  parts.push(`<text x="${M.left + plotW / 2}" y="${H - 12}" text-anchor="middle" font-size="12">${esc(p.xLabel)}</text>`);
  parts.push(`<text transform="translate(16,${M.top + plotH / 2}) rotate(-90)" text-anchor="middle" font-size="12">${esc(p.yLabel)}</text>`);
  p.series.forEach((s, i) => {
    const pts = s.points.filter(([, y]) => Number.isFinite(y) && (!p.logY || y > 0));
    const d = pts.map(([x, y]) => `${xPos(x).toFixed(1)},${yPos(y).toFixed(1)}`).join(' ');
    const dash = s.dashed === true ? ' stroke-dasharray="6 4"' : '';
    if (pts.length > 1) parts.push(`<polyline points="${d}" fill="none" stroke="${s.color}" stroke-width="2"${dash}/>`);
    for (const [x, y] of pts) parts.push(`<circle cx="${xPos(x).toFixed(1)}" cy="${yPos(y).toFixed(1)}" r="3" fill="${s.color}"/>`);
    const ly = M.top + 14 + i * 15;
    parts.push(`<line x1="${M.left + 8}" x2="${M.left + 28}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2"${dash}/>`);
    parts.push(`<text x="${M.left + 32}" y="${ly}" font-size="11">${esc(s.name)}</text>`);
  });
  parts.push('</g>');
  return parts.join('\n');
}

/** Panels side by side, a caption line under them. */
export function chart(panels: readonly Panel[], caption: string): string {
  const width = W * panels.length;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${H + 24}" viewBox="0 0 ${width} ${H + 24}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    ...panels.map((p, i) => panel(p, i * W)),
    `<text x="8" y="${H + 16}" font-size="11" fill="#555">${esc(caption)}</text>`,
    '</svg>',
    '',
  ].join('\n');
}
