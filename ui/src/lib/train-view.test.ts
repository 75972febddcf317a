import { describe, expect, it } from 'vitest';
import type { Column, DeviceSummary, MetricPoint } from './bindings';
import {
  appendEpoch,
  changedParams,
  chartOf,
  cudaUsable,
  defaultTarget,
  deviceOptions,
  formatMetric,
  matrixTotal,
  metricCharts,
  parseSeed,
  progressShare,
  residualPoints,
  testMetrics,
} from './train-view';

const column = (name: string): Column => ({ name, dtype: 'string', nullable: true, categorical: false }) as unknown as Column;

const devices = (over: Partial<DeviceSummary> = {}): DeviceSummary => ({
  cpu: 'AMD EPYC',
  cores: 2,
  simd: ['avx2'],
  gpus: [],
  driver_version: null,
  cuda_note: 'No NVIDIA driver found; training runs on the CPU.',
  cuda_build: false,
  ...over,
});

describe('the launcher form', () => {
  it('sends only the params changed from their defaults', () => {
    const params = [
      { key: 'epochs', default: '100', help: '' },
      { key: 'lr', default: '0.01', help: '' },
      { key: 'hidden', default: '[128, 64]', help: '' },
      { key: 'dropout', default: '0', help: '' },
    ];
    expect(changedParams(params, { epochs: ' 30 ', lr: '0.01', hidden: '', other: '5' })).toEqual({ epochs: '30' });
    expect(changedParams(params, {})).toEqual({});
  });

  it('guesses the target column', () => {
    expect(defaultTarget(['a', 'target', 'b'].map(column))).toBe('target');
    expect(defaultTarget(['x', 'Label'].map(column))).toBe('Label');
    expect(defaultTarget(['species', 'island', 'sex'].map(column))).toBe('sex');
    expect(defaultTarget([])).toBeNull();
  });

  it('offers CUDA only where this build can use a GPU', () => {
    expect(cudaUsable(null)).toBe(false);
    expect(deviceOptions(devices()).map((d) => [d.value, d.disabled])).toEqual([
      ['cpu', false],
      ['auto', false],
      ['cuda', true],
    ]);
    const gpu = { ordinal: 0, name: 'NVIDIA H100', memory_bytes: 80e9, compute_capability: '9.0' };
    // A GPU this binary cannot use (built without the cuda feature) stays disabled.
    expect(deviceOptions(devices({ gpus: [gpu] }))[2]).toEqual({ value: 'cuda', gpu: null, disabled: true });
    expect(deviceOptions(devices({ gpus: [gpu], cuda_build: true }))[2]).toEqual({
      value: 'cuda:0',
      gpu: 'NVIDIA H100',
      disabled: false,
    });
  });

  it('reads a seed as a whole number', () => {
    expect(parseSeed('42')).toBe(42);
    expect(parseSeed(' 7 ')).toBe(7);
    expect(parseSeed('-1')).toBeNull();
    expect(parseSeed('1.5')).toBeNull();
    expect(parseSeed('')).toBeNull();
    expect(parseSeed('99999999999999999999')).toBeNull();
  });
});

describe('metric charts', () => {
  it('groups curves: loss, accuracy, other validation metrics, learning rate, steps', () => {
    const p = (...values: number[]): MetricPoint[] => values.map((value, i) => ({ step: i + 1, value }));
    const history = {
      val_loss: p(0.9, 0.7),
      train_loss: p(1, 0.8),
      train_accuracy: p(0.5, 0.7),
      val_accuracy: p(0.6, 0.65),
      val_r2: p(0.1, 0.2),
      lr: p(0.01, 0.01),
      step_loss: p(1, 0.9, 0.8),
      test_accuracy: p(0.98),
      n_test: p(69),
      best_epoch: p(2),
    };
    const charts = metricCharts(history, { steps: true });
    expect(charts.map((c) => [c.id, c.series.map((s) => s.key)])).toEqual([
      ['loss', ['train_loss', 'val_loss']],
      ['accuracy', ['train_accuracy', 'val_accuracy']],
      ['val_r2', ['val_r2']],
      ['lr', ['lr']],
      ['step_loss', ['step_loss']],
    ]);
    expect(metricCharts(history, { lr: false }).map((c) => c.id)).toEqual(['loss', 'accuracy', 'val_r2']);
    // Full-batch training takes one step per epoch: the step chart would repeat the loss.
    const fullBatch = { train_loss: p(1, 0.8), step_loss: p(1, 0.8) };
    expect(metricCharts(fullBatch, { steps: true }).map((c) => c.id)).toEqual(['loss']);
    expect(chartOf('val_rmse')).toBe('val_rmse');
  });

  it('leaves out values that are not numbers', () => {
    const charts = metricCharts({ train_loss: [{ step: 1, value: null as unknown as number }, { step: 2, value: 0.5 }] });
    expect(charts[0].series[0].points).toEqual([{ x: 2, y: 0.5 }]);
    expect(metricCharts({ train_loss: [{ step: 1, value: NaN }] })).toEqual([]);
  });

  it('appends live epochs', () => {
    const history: Record<string, MetricPoint[]> = {};
    expect(appendEpoch(history, 1, { train_loss: 1, lr: 0.01 })).toBe(2);
    expect(appendEpoch(history, 2, { train_loss: 0.5 })).toBe(1);
    expect(appendEpoch(history, 2, {})).toBe(0);
    expect(history.train_loss).toEqual([
      { step: 1, value: 1 },
      { step: 2, value: 0.5 },
    ]);
  });

  it('says how far a job is', () => {
    expect(progressShare(3, 30)).toBeCloseTo(0.1);
    expect(progressShare(0, null)).toBe(0);
    expect(progressShare(40, 30)).toBe(1);
  });
});

describe('final metrics and evaluation', () => {
  it('lists the test metrics, best known first', () => {
    const metrics = { test_r2: 0.5, train_loss: 1, test_rmse: 48, test_zeta: 1, test_mae: 37, n_test: 89 };
    expect(testMetrics(metrics).map((m) => m.key)).toEqual(['test_rmse', 'test_mae', 'test_r2', 'test_zeta']);
  });

  it('formats shares as percentages and the rest with four significant digits', () => {
    expect(formatMetric('test_accuracy', 0.985507, 'en')).toBe('98.55%');
    expect(formatMetric('test_rmse', 48.47983, 'en')).toBe('48.48');
    expect(formatMetric('test_log_loss', 0.0740171, 'en')).toBe('0.07402');
    expect(formatMetric('lr', 2.7e-8, 'en')).toBe('2.7E-8');
  });

  it('counts the rows of a confusion matrix', () => {
    expect(matrixTotal([[30, 1, 0], [0, 14, 0], [0, 0, 24]])).toBe(69);
    expect(matrixTotal([])).toBe(0);
  });

  it('turns test predictions into fit and residual points', () => {
    expect(residualPoints([10, 20, NaN], [12, 15, 1])).toEqual({
      fit: [
        { x: 12, y: 10 },
        { x: 15, y: 20 },
      ],
      residuals: [
        { x: 12, y: -2 },
        { x: 15, y: 5 },
      ],
    });
  });
});
