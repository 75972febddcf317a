// Pure helpers behind the Train view and the run page: which params changed, which charts a
// metric history makes, which final metrics to show and how. No IPC, so they are unit-tested.
import type { Column, DeviceSummary, MetricPoint, ParamDefault } from './bindings';
import type { Point, Series } from './charts';

/** The models Cairn trains, in the order the launcher offers them. */
export const MODELS = ['linear', 'logistic', 'mlp', 'cnn'] as const;

/** The params whose text differs from the default, trimmed: what the launcher sends. */
export function changedParams(params: ParamDefault[], edits: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of params) {
    const text = edits[p.key];
    if (text === undefined) continue;
    const trimmed = text.trim();
    if (trimmed !== '' && trimmed !== p.default.trim()) out[p.key] = trimmed;
  }
  return out;
}

/** A sensible first target: a column named `target`, `label`, `class` or `y`, else the last. */
export function defaultTarget(columns: Column[]): string | null {
  const names = columns.map((c) => c.name);
  for (const guess of ['target', 'label', 'class', 'y']) {
    const hit = names.find((n) => n.toLowerCase() === guess);
    if (hit) return hit;
  }
  return names[names.length - 1] ?? null;
}

/** Whether this build can train on a GPU here: built with CUDA, and the driver lists one. */
export function cudaUsable(devices: DeviceSummary | null): boolean {
  return devices !== null && devices.cuda_build && devices.gpus.length > 0;
}

export type DeviceOption = { value: string; gpu: string | null; disabled: boolean };

/** `cpu`, `auto`, and `cuda:N` per GPU (or one disabled `cuda` when none can be used). */
export function deviceOptions(devices: DeviceSummary | null): DeviceOption[] {
  const options: DeviceOption[] = [
    { value: 'cpu', gpu: null, disabled: false },
    { value: 'auto', gpu: null, disabled: false },
  ];
  if (devices && cudaUsable(devices)) {
    for (const g of devices.gpus) options.push({ value: `cuda:${g.ordinal}`, gpu: g.name, disabled: false });
  } else {
    options.push({ value: 'cuda', gpu: null, disabled: true });
  }
  return options;
}

/** A seed as the CLI takes it: a whole number from 0 to 2^53 − 1 (what JSON carries exactly). */
export function parseSeed(text: string): number | null {
  const t = text.trim();
  if (!/^\d+$/.test(t)) return null;
  const n = Number(t);
  return Number.isSafeInteger(n) ? n : null;
}

export type MetricChart = { id: string; series: Series[] };

/** Metrics that are not curves over epochs: held-out scores, row counts, the best epoch. */
function isScalarMetric(key: string): boolean {
  return key.startsWith('test_') || key.startsWith('n_') || key === 'best_epoch';
}

/** The chart a curve belongs to: `loss` (train and val), `accuracy`, `lr`, `step_loss`, or its own. */
export function chartOf(key: string): string {
  if (key === 'step_loss' || key === 'lr') return key;
  const suffix = key.replace(/^(train|val)_/, '');
  return suffix === 'loss' || suffix === 'accuracy' ? suffix : key;
}

const CHART_ORDER = ['loss', 'accuracy'];
const LAST_CHARTS = ['lr', 'step_loss'];

/**
 * The charts a metric history makes: loss (train + validation), accuracy (train + validation),
 * any other validation metric on its own, then the learning rate and, when asked, the loss per
 * step (unless there is one step per epoch, when it repeats the loss). Points that are not
 * finite numbers are left out; charts with no points too.
 */
export function metricCharts(
  history: Record<string, Array<{ step: number; value: number }>>,
  options: { steps?: boolean; lr?: boolean } = {},
): MetricChart[] {
  const byChart = new Map<string, Series[]>();
  for (const key of Object.keys(history).sort()) {
    if (isScalarMetric(key)) continue;
    if (key === 'step_loss' && (!options.steps || history[key].length <= (history.train_loss?.length ?? 0))) continue;
    if (key === 'lr' && options.lr === false) continue;
    const points: Point[] = (history[key] ?? [])
      .map((p) => ({ x: p.step, y: p.value }))
      .filter((p) => typeof p.y === 'number' && Number.isFinite(p.y));
    if (points.length === 0) continue;
    const id = chartOf(key);
    const list = byChart.get(id) ?? [];
    list.push({ key, points });
    byChart.set(id, list);
  }
  const rank = (id: string) => {
    const first = CHART_ORDER.indexOf(id);
    if (first >= 0) return first;
    const last = LAST_CHARTS.indexOf(id);
    return last >= 0 ? 100 + last : 50;
  };
  return [...byChart.entries()]
    .sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b))
    .map(([id, series]) => ({
      id,
      // Training before validation in each chart.
      series: series.sort((a, b) => Number(a.key.startsWith('val_')) - Number(b.key.startsWith('val_'))),
    }));
}

/** Appends one epoch's metrics to a live history (mutating it); returns how many points came. */
export function appendEpoch(
  history: Record<string, MetricPoint[]>,
  epoch: number,
  metrics: Record<string, number>,
): number {
  let added = 0;
  for (const [key, value] of Object.entries(metrics)) {
    (history[key] ??= []).push({ step: epoch, value });
    added++;
  }
  return added;
}

const TEST_ORDER = [
  'accuracy',
  'balanced_accuracy',
  'f1_macro',
  'precision_macro',
  'recall_macro',
  'roc_auc',
  'pr_auc',
  'log_loss',
  'brier',
  'f1_weighted',
  'precision_weighted',
  'recall_weighted',
  'rmse',
  'mae',
  'r2',
  'mape',
];

/** The held-out `test_*` metrics of a run, best known first. */
export function testMetrics(metrics: Record<string, number>): Array<{ key: string; value: number }> {
  const rank = (key: string) => {
    const i = TEST_ORDER.indexOf(key.slice('test_'.length));
    return i < 0 ? TEST_ORDER.length : i;
  };
  return Object.entries(metrics)
    .filter(([key, value]) => key.startsWith('test_') && typeof value === 'number')
    .map(([key, value]) => ({ key, value }))
    .sort((a, b) => rank(a.key) - rank(b.key) || a.key.localeCompare(b.key));
}

/** Whether a metric reads best as a percentage (a share of rows). */
export function isShare(key: string): boolean {
  return /(^|_)(accuracy|balanced_accuracy)$/.test(key);
}

/** A metric value for people: shares as percentages, the rest with four significant digits. */
export function formatMetric(key: string, value: number, locale: string): string {
  if (!Number.isFinite(value)) return String(value);
  if (isShare(key)) {
    return new Intl.NumberFormat(locale, { style: 'percent', minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(
      value,
    );
  }
  const abs = Math.abs(value);
  if (abs !== 0 && (abs >= 1e7 || abs < 1e-4)) {
    return new Intl.NumberFormat(locale, { notation: 'scientific', maximumSignificantDigits: 4 }).format(value);
  }
  return new Intl.NumberFormat(locale, { maximumSignificantDigits: 4 }).format(value);
}

/** Sum of every cell: the test rows a confusion matrix counts. */
export function matrixTotal(matrix: number[][]): number {
  return matrix.reduce((sum, row) => sum + row.reduce((s, v) => s + v, 0), 0);
}

/** Predicted (x) against actual (y) per test row, and residuals (actual − predicted) against predicted. */
export function residualPoints(yTrue: number[], yPred: number[]): { fit: Point[]; residuals: Point[] } {
  const n = Math.min(yTrue.length, yPred.length);
  const fit: Point[] = [];
  const residuals: Point[] = [];
  for (let i = 0; i < n; i++) {
    const t = yTrue[i];
    const p = yPred[i];
    if (!Number.isFinite(t) || !Number.isFinite(p)) continue;
    fit.push({ x: p, y: t });
    residuals.push({ x: p, y: t - p });
  }
  return { fit, residuals };
}

/** Fraction done of a job at epoch `done` of `total` (0 when the total is not known yet). */
export function progressShare(done: number, total: number | null): number {
  if (!total || total <= 0) return 0;
  return Math.min(Math.max(done / total, 0), 1);
}
