import { describe, expect, it } from 'vitest';
import type { RunComparison } from './bindings';
import { axisX, parallelAxes, rampColor, runSegments } from './parallel';

const C: RunComparison = {
  runs: [
    { id: 'a', name: 'a', status: 'finished', model: 'mlp', dataset: 'd@1' },
    { id: 'b', name: 'b', status: 'finished', model: 'mlp', dataset: 'd@1' },
    { id: 'c', name: 'c', status: 'finished', model: 'mlp', dataset: 'd@1' },
  ],
  params: [
    { key: 'epochs', values: [10, 10, 10], differs: false },
    { key: 'lr', values: [0.1, 0.3, 0.2], differs: true },
    { key: 'optimizer', values: ['sgd', 'adam', null], differs: true },
  ],
  metrics: [
    {
      key: 'acc',
      finals: [{ last: 0.8, min: 0, max: 0.8, count: 2 }, { last: 0.9, min: 0, max: 0.9, count: 2 }, null],
      series: [null, null, null],
    },
  ],
  max_points: 2000,
};

describe('parallel coordinates', () => {
  it('has an axis per differing param, then the metric', () => {
    const axes = parallelAxes(C, 'acc');
    expect(axes.map((a) => [a.key, a.kind, a.numeric])).toEqual([
      ['lr', 'param', true],
      ['optimizer', 'param', false],
      ['acc', 'metric', true],
    ]);
    const [lr, opt, acc] = axes;
    expect(lr.positions.map((p) => p?.toFixed(2))).toEqual(['0.00', '1.00', '0.50']);
    expect(opt.categories).toEqual(['adam', 'sgd']);
    expect(opt.positions).toEqual([1, 0, null]);
    expect(acc.positions.map((p) => p?.toFixed(2))).toEqual(['0.00', '1.00', undefined]);
  });

  it('uses every param when none differs, and no metric axis without a metric', () => {
    const same = { ...C, params: C.params.map((p) => ({ ...p, differs: false })) };
    expect(parallelAxes(same, null).map((a) => a.key)).toEqual(['epochs', 'lr', 'optimizer']);
    expect(parallelAxes(same, null)[0].positions).toEqual([0.5, 0.5, 0.5]);
  });

  it('draws a polyline per run, broken where a value is missing', () => {
    const axes = parallelAxes(C, 'acc');
    const pad = { x: 10, top: 10, bottom: 10 };
    expect(runSegments(axes, 0, 220, 120, pad)).toEqual(['10.0,110.0 110.0,10.0 210.0,110.0']);
    expect(runSegments(axes, 2, 220, 120, pad)).toEqual([]);
    expect(axisX(1, 3, 220, 10)).toBe(110);
    expect(axisX(0, 1, 220, 10)).toBe(110);
  });

  it('colours low blue, high orange, missing grey', () => {
    expect(rampColor(0)).toBe('rgb(59 76 192)');
    expect(rampColor(1)).toBe('rgb(224 123 57)');
    expect(rampColor(null)).toBe('#8a8f98');
  });
});
