// Pure geometry behind the hand-written SVG charts (line charts of metrics, scatter plots,
// heat-map cells). No DOM and no IPC, so it is unit-tested directly.

export type Point = { x: number; y: number };
export type Series = { key: string; points: Point[] };
export type Extent = { min: number; max: number };

/** Series colours, in order; chosen to stay apart for the common colour-vision deficiencies. */
export const SERIES_COLORS = ['#4f5bd5', '#e07b39', '#2a9d8f', '#c2415d', '#7a5af8', '#8a8f98'] as const;

export function seriesColor(index: number): string {
  return SERIES_COLORS[index % SERIES_COLORS.length];
}

/** Only the points with finite coordinates (a NaN metric arrives as null over IPC). */
export function finitePoints(points: ReadonlyArray<{ x: unknown; y: unknown }>): Point[] {
  return points.filter(
    (p): p is Point => typeof p.x === 'number' && typeof p.y === 'number' && Number.isFinite(p.x) && Number.isFinite(p.y),
  );
}

/** Smallest and largest of `values`; null for none. */
export function extent(values: Iterable<number>): Extent | null {
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return min <= max ? { min, max } : null;
}

/** An extent with room: a flat one is widened so a constant series draws as a middle line. */
export function padExtent(e: Extent, share = 0.05): Extent {
  if (e.max === e.min) {
    const pad = e.min === 0 ? 1 : Math.abs(e.min) * 0.1;
    return { min: e.min - pad, max: e.max + pad };
  }
  const pad = (e.max - e.min) * share;
  return { min: e.min - pad, max: e.max + pad };
}

/** About `count` round tick values (1, 2, 2.5 or 5 times a power of ten apart) covering `e`. */
export function niceTicks(e: Extent, count = 5): number[] {
  const span = e.max - e.min;
  if (!Number.isFinite(span) || span <= 0) return Number.isFinite(e.min) ? [e.min] : [];
  const raw = span / Math.max(count, 1);
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? 10 * magnitude;
  const first = Math.ceil(e.min / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let v = first; v <= e.max + step * 1e-9; v += step) {
    // Round away the float noise of repeated addition (0.30000000000000004).
    ticks.push(Number(v.toPrecision(12)));
  }
  return ticks;
}

/** The x extent of a live chart at epoch `done` of `total`: the epochs so far and a quarter more
 * (at least 10), never past the last one, so early epochs are not squeezed against the axis. */
export function liveXMax(done: number, total: number | null): number | undefined {
  if (total === null) return undefined;
  return Math.min(total, Math.max(10, Math.ceil(done * 1.25)));
}

/** Maps `domain` linearly onto `range` (which may run backwards, as SVG's y axis does). */
export function scale(domain: Extent, range: [number, number]): (v: number) => number {
  const span = domain.max - domain.min;
  const [r0, r1] = range;
  if (span === 0) return () => (r0 + r1) / 2;
  return (v) => r0 + ((v - domain.min) / span) * (r1 - r0);
}

/**
 * At most `max` points of a long series for drawing, keeping the first and last and, in each
 * bucket, the lowest and highest point (so spikes survive thinning).
 */
export function thin(points: Point[], max = 600): Point[] {
  if (points.length <= max) return points;
  const buckets = Math.max(Math.floor(max / 2), 1);
  const size = points.length / buckets;
  const out: Point[] = [];
  for (let b = 0; b < buckets; b++) {
    const from = Math.floor(b * size);
    const to = Math.min(Math.floor((b + 1) * size), points.length);
    let lo = points[from];
    let hi = points[from];
    for (let i = from + 1; i < to; i++) {
      if (points[i].y < lo.y) lo = points[i];
      if (points[i].y > hi.y) hi = points[i];
    }
    if (lo === hi) out.push(lo);
    else if (lo.x <= hi.x) out.push(lo, hi);
    else out.push(hi, lo);
  }
  if (out[0] !== points[0]) out.unshift(points[0]);
  if (out[out.length - 1] !== points[points.length - 1]) out.push(points[points.length - 1]);
  return out;
}

/** An SVG path through `points` with the given scales; a lone point becomes a dot-sized stroke. */
export function linePath(points: Point[], sx: (v: number) => number, sy: (v: number) => number): string {
  if (points.length === 0) return '';
  const f = (v: number) => Number(v.toFixed(2));
  const parts = points.map((p, i) => `${i === 0 ? 'M' : 'L'}${f(sx(p.x))},${f(sy(p.y))}`);
  if (points.length === 1) parts.push(`h0.01`);
  return parts.join('');
}

export type Frame = { width: number; height: number; left: number; right: number; top: number; bottom: number };

export type ChartGeometry = {
  x: Extent;
  y: Extent;
  sx: (v: number) => number;
  sy: (v: number) => number;
  xTicks: number[];
  yTicks: number[];
};

/**
 * Scales and ticks for series drawn in `frame`. `xMax` keeps the x axis at least that long (a
 * live chart leaves room for the next epochs); `yFloor0` starts y at 0 when all values are
 * positive (losses); `yDomain` fixes y when every value lies inside it (accuracies in [0, 1]).
 */
export function chartGeometry(
  series: Series[],
  frame: Frame,
  options: { xMin?: number; xMax?: number; yFloor0?: boolean; yDomain?: Extent } = {},
): ChartGeometry | null {
  const xs = extent(series.flatMap((s) => s.points.map((p) => p.x)));
  const ys = extent(series.flatMap((s) => s.points.map((p) => p.y)));
  if (!xs || !ys) return null;
  const x: Extent = {
    min: Math.min(options.xMin ?? xs.min, xs.min),
    max: Math.max(options.xMax ?? xs.max, xs.max),
  };
  if (x.max === x.min) x.max = x.min + 1;
  const fixed = options.yDomain;
  if (fixed && ys.min >= fixed.min && ys.max <= fixed.max && fixed.max > fixed.min) {
    const sx = scale(x, [frame.left, frame.width - frame.right]);
    const sy = scale(fixed, [frame.height - frame.bottom, frame.top]);
    const xTicks = niceTicks(x, 6).filter((v) => v >= x.min && v <= x.max);
    return { x, y: fixed, sx, sy, xTicks, yTicks: niceTicks(fixed, 4) };
  }
  // From 0 when asked (losses); the top then ends on the next tick above the largest value.
  let y = options.yFloor0 && ys.min >= 0 && ys.max > 0 ? { min: 0, max: ys.max } : padExtent(ys);
  const yTicks = niceTicks(y, 4);
  // Let the axis end on a tick, so the top gridline carries a label.
  const lastTick = yTicks[yTicks.length - 1];
  if (lastTick !== undefined && lastTick < y.max && yTicks.length > 1) {
    y = { min: y.min, max: lastTick + (yTicks[1] - yTicks[0]) };
    yTicks.push(Number(y.max.toPrecision(12)));
  }
  const sx = scale(x, [frame.left, frame.width - frame.right]);
  const sy = scale(y, [frame.height - frame.bottom, frame.top]);
  const xTicks = niceTicks(x, 6).filter((v) => v >= x.min && v <= x.max);
  return { x, y, sx, sy, xTicks, yTicks: yTicks.filter((v) => v >= y.min && v <= y.max) };
}

/** Background of a heat-map cell holding `count` of `max`: white through the accent colour. */
export function heatColor(count: number, max: number): string {
  const share = max > 0 ? Math.min(Math.max(count / max, 0), 1) : 0;
  // From #ffffff to #3a44b0 (the accent), in sRGB; plain and readable for a table.
  const mix = (to: number) => Math.round(255 + (to - 255) * share);
  return `rgb(${mix(0x3a)} ${mix(0x44)} ${mix(0xb0)})`;
}

/** Whether text on `heatColor(count, max)` should be light to stay readable. */
export function heatTextIsLight(count: number, max: number): boolean {
  return max > 0 && count / max > 0.55;
}
