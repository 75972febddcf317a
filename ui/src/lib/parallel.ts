// Pure geometry of the parallel-coordinates view: one vertical axis per param (numbers on a
// linear scale, anything else as evenly spaced categories), the last axis a chosen metric, one
// polyline per run coloured by that metric. No DOM, so it is unit-tested directly.
import type { JsonValue, RunComparison } from './bindings';

export type Axis = {
  key: string;
  /** `param` or `metric` (the last axis). */
  kind: 'param' | 'metric';
  numeric: boolean;
  /** Numeric axes: the extent, bottom to top. */
  min: number;
  max: number;
  /** Categorical axes: the categories, bottom to top. */
  categories: string[];
  /** Each run's position on the axis, 0 (bottom) to 1 (top); null where the run has no value. */
  positions: Array<number | null>;
  /** Each run's value as text, for labels; null where missing. */
  labels: Array<string | null>;
};

function category(v: JsonValue): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function numericAxis(key: string, kind: Axis['kind'], values: Array<number | null>): Axis {
  const present = values.filter((v): v is number => v !== null && Number.isFinite(v));
  const min = present.length ? Math.min(...present) : 0;
  const max = present.length ? Math.max(...present) : 1;
  const span = max - min;
  return {
    key,
    kind,
    numeric: true,
    min,
    max,
    categories: [],
    positions: values.map((v) => (v === null || !Number.isFinite(v) ? null : span === 0 ? 0.5 : (v - min) / span)),
    labels: values.map((v) => (v === null ? null : String(v))),
  };
}

function categoricalAxis(key: string, values: Array<JsonValue>): Axis {
  const categories = [...new Set(values.filter((v) => v !== null).map(category))].sort();
  const n = categories.length;
  return {
    key,
    kind: 'param',
    numeric: false,
    min: 0,
    max: Math.max(n - 1, 0),
    categories,
    positions: values.map((v) => (v === null ? null : n <= 1 ? 0.5 : categories.indexOf(category(v)) / (n - 1))),
    labels: values.map((v) => (v === null ? null : category(v))),
  };
}

/**
 * The axes: the params that differ (every param when none differs), numeric when every present
 * value is a number, then `metric` (its last value). Params missing from every run are skipped.
 */
export function parallelAxes(c: RunComparison, metric: string | null): Axis[] {
  const differing = c.params.filter((p) => p.differs);
  const params = (differing.length > 0 ? differing : c.params).filter((p) => p.values.some((v) => v !== null));
  const axes: Axis[] = params.map((p) => {
    const present = p.values.filter((v) => v !== null);
    return present.every((v) => typeof v === 'number')
      ? numericAxis(p.key, 'param', p.values.map((v) => (typeof v === 'number' ? v : null)))
      : categoricalAxis(p.key, p.values);
  });
  const m = metric === null ? undefined : c.metrics.find((x) => x.key === metric);
  if (m) axes.push(numericAxis(m.key, 'metric', m.finals.map((f) => (f ? f.last : null))));
  return axes;
}

/** x of axis `i` of `n` in a plot `width` wide with `pad` on each side. */
export function axisX(i: number, n: number, width: number, pad: number): number {
  if (n <= 1) return width / 2;
  return pad + (i * (width - 2 * pad)) / (n - 1);
}

/** The SVG points of run `run` across the axes (a missing value breaks the line there). */
export function runSegments(axes: Axis[], run: number, width: number, height: number, pad: { x: number; top: number; bottom: number }): string[] {
  const segments: string[] = [];
  let current: string[] = [];
  axes.forEach((a, i) => {
    const p = a.positions[run];
    if (p === null) {
      if (current.length > 1) segments.push(current.join(' '));
      current = [];
      return;
    }
    const x = axisX(i, axes.length, width, pad.x);
    const y = pad.top + (1 - p) * (height - pad.top - pad.bottom);
    current.push(`${x.toFixed(1)},${y.toFixed(1)}`);
  });
  if (current.length > 1) segments.push(current.join(' '));
  return segments;
}

/** A colour from low (0) to high (1) on a blue → orange ramp that reads for common colour-vision
 * deficiencies; grey for no value. */
export function rampColor(share: number | null): string {
  if (share === null || !Number.isFinite(share)) return '#8a8f98';
  const s = Math.min(Math.max(share, 0), 1);
  const from = [0x3b, 0x4c, 0xc0];
  const mid = [0x9a, 0x9a, 0xb8];
  const to = [0xe0, 0x7b, 0x39];
  const [a, b, k] = s < 0.5 ? [from, mid, s * 2] : [mid, to, (s - 0.5) * 2];
  const mix = a.map((v, i) => Math.round(v + (b[i] - v) * k));
  return `rgb(${mix[0]} ${mix[1]} ${mix[2]})`;
}
