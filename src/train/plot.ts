// The loss curve as a small standalone SVG: training loss (raw and smoothed) and held-out loss
// against tokens seen, with the learning rate as a faint second curve.

export interface CurvePoint { step: number; tokens: number; loss: number; lr: number; val?: number }

const esc = (s: string) => s.replace(/[<>&]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;' })[c]!);

export interface Series { name: string; color: string; points: [number, number][]; dashed?: boolean; dots?: boolean }

/** A generic line chart (used for the loss curve and the wind-tunnel plot). */
export function lineChart(title: string, xLabel: string, yLabel: string, series: Series[], opts: { logX?: boolean } = {}): string {
  const W = 720, H = 420, L = 60, R = 150, T = 36, B = 48;
  const all = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const fx = (x: number) => (opts.logX ? Math.log10(x) : x);
  let x0 = Math.min(...all.map((p) => fx(p[0]))), x1 = Math.max(...all.map((p) => fx(p[0])));
  let y0 = Math.min(...all.map((p) => p[1])), y1 = Math.max(...all.map((p) => p[1]));
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) y1 = y0 + 1;
  const pad = (y1 - y0) * 0.05; y0 -= pad; y1 += pad;
  const px = (x: number) => L + ((fx(x) - x0) / (x1 - x0)) * (W - L - R);
  const py = (y: number) => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
  const out: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`, `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${esc(title)}</text>`];
  for (let i = 0; i <= 5; i++) {
    const y = y0 + ((y1 - y0) * i) / 5, yy = py(y);
    out.push(`<line x1="${L}" x2="${W - R}" y1="${yy.toFixed(1)}" y2="${yy.toFixed(1)}" stroke="#eee"/>`, `<text x="${L - 6}" y="${(yy + 4).toFixed(1)}" text-anchor="end">${y.toFixed(2)}</text>`);
    const xv = x0 + ((x1 - x0) * i) / 5, xx = L + ((xv - x0) / (x1 - x0)) * (W - L - R);
    const xl = opts.logX ? Math.pow(10, xv) : xv;
    out.push(`<text x="${xx.toFixed(1)}" y="${H - B + 16}" text-anchor="middle">${Math.abs(xl) >= 1e4 ? `${(xl / 1e3).toFixed(0)}k` : Number(xl.toPrecision(3))}</text>`);
  }
  out.push(`<line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="black"/>`, `<line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" stroke="black"/>`,
    `<text x="${(L + W - R) / 2}" y="${H - 10}" text-anchor="middle">${esc(xLabel)}</text>`,
    `<text x="16" y="${(T + H - B) / 2}" text-anchor="middle" transform="rotate(-90 16 ${(T + H - B) / 2})">${esc(yLabel)}</text>`);
  series.forEach((s, k) => {
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    if (pts.length) out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="1.5"${s.dashed ? ' stroke-dasharray="5 3"' : ''} points="${pts.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ')}"/>`);
    if (s.dots) for (const [x, y] of pts) out.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="2.5" fill="${s.color}"/>`);
    const ly = T + 14 + k * 18;
    out.push(`<line x1="${W - R + 10}" x2="${W - R + 30}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2"/>`, `<text x="${W - R + 36}" y="${ly}">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

export function lossCurveSVG(title: string, pts: CurvePoint[]): string {
  const smooth: [number, number][] = [];
  let ema = NaN;
  for (const p of pts) { ema = Number.isNaN(ema) ? p.loss : 0.95 * ema + 0.05 * p.loss; smooth.push([p.tokens, ema]); }
  return lineChart(title, 'tokens seen', 'loss (nats/token)', [
    { name: 'train', color: '#9ecae1', points: pts.map((p) => [p.tokens, p.loss]) },
    { name: 'train (EMA)', color: '#08519c', points: smooth },
    { name: 'held-out', color: '#e6550d', points: pts.filter((p) => p.val !== undefined).map((p) => [p.tokens, p.val!]), dots: true },
  ]);
}
