import { describe, expect, it } from 'vitest';
import {
  chartGeometry,
  extent,
  finitePoints,
  heatColor,
  heatTextIsLight,
  linePath,
  liveXMax,
  niceTicks,
  padExtent,
  scale,
  seriesColor,
  thin,
} from './charts';

describe('extents and ticks', () => {
  it('finds the range of finite values', () => {
    expect(extent([3, 1, NaN, 2])).toEqual({ min: 1, max: 3 });
    expect(extent([])).toBeNull();
    expect(finitePoints([{ x: 1, y: null }, { x: 2, y: 0.5 }])).toEqual([{ x: 2, y: 0.5 }]);
  });

  it('widens a flat range so a constant line sits in the middle', () => {
    expect(padExtent({ min: 0, max: 0 })).toEqual({ min: -1, max: 1 });
    expect(padExtent({ min: 2, max: 2 })).toEqual({ min: 1.8, max: 2.2 });
    expect(padExtent({ min: 0, max: 10 })).toEqual({ min: -0.5, max: 10.5 });
  });

  it('puts ticks on round numbers', () => {
    expect(niceTicks({ min: 0, max: 1 }, 5)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks({ min: 1, max: 30 }, 6)).toEqual([5, 10, 15, 20, 25, 30]);
    expect(niceTicks({ min: 0.13, max: 0.91 }, 4)).toEqual([0.2, 0.4, 0.6, 0.8]);
    expect(niceTicks({ min: 3, max: 3 })).toEqual([3]);
  });

  it('maps a domain onto a range, backwards for SVG y', () => {
    const sy = scale({ min: 0, max: 10 }, [100, 0]);
    expect(sy(0)).toBe(100);
    expect(sy(5)).toBe(50);
    expect(scale({ min: 1, max: 1 }, [0, 10])(1)).toBe(5);
  });
});

describe('line charts', () => {
  const frame = { width: 200, height: 100, left: 20, right: 10, top: 10, bottom: 20 };

  it('spans every planned epoch of a live chart and starts losses at zero', () => {
    const g = chartGeometry([{ key: 'train_loss', points: [{ x: 1, y: 0.9 }, { x: 2, y: 0.5 }] }], frame, {
      xMin: 1,
      xMax: 30,
      yFloor0: true,
    })!;
    expect(g.x).toEqual({ min: 1, max: 30 });
    expect(g.y.min).toBe(0);
    expect(g.y.max).toBeGreaterThanOrEqual(0.9);
    expect(g.sx(1)).toBe(20);
    expect(g.sx(30)).toBe(190);
    expect(g.sy(0)).toBe(80);
    expect(g.yTicks[0]).toBe(0);
    expect(g.yTicks[g.yTicks.length - 1]).toBeCloseTo(g.y.max);
  });

  it('keeps accuracies on a fixed 0 to 1 axis', () => {
    const points = [{ x: 1, y: 0.3 }, { x: 2, y: 0.99 }];
    const g = chartGeometry([{ key: 'train_accuracy', points }], frame, { yDomain: { min: 0, max: 1 } })!;
    expect(g.y).toEqual({ min: 0, max: 1 });
    expect(g.yTicks).toEqual([0, 0.25, 0.5, 0.75, 1]);
    // A value outside the domain falls back to the data's own range.
    const wide = chartGeometry([{ key: 'x', points: [{ x: 1, y: 2 }] }], frame, { yDomain: { min: 0, max: 1 } })!;
    expect(wide.y.max).toBeGreaterThan(2);
  });

  it('gives a live chart room to grow', () => {
    expect(liveXMax(0, null)).toBeUndefined();
    expect(liveXMax(2, 30)).toBe(10);
    expect(liveXMax(20, 30)).toBe(25);
    expect(liveXMax(29, 30)).toBe(30);
    expect(liveXMax(100, 2000)).toBe(125);
  });

  it('has no geometry without points', () => {
    expect(chartGeometry([{ key: 'a', points: [] }], frame)).toBeNull();
  });

  it('draws a path, and a lone point as a dot', () => {
    const id = (v: number) => v;
    expect(linePath([{ x: 1, y: 2 }, { x: 3, y: 4 }], id, id)).toBe('M1,2L3,4');
    expect(linePath([{ x: 1, y: 2 }], id, id)).toBe('M1,2h0.01');
    expect(linePath([], id, id)).toBe('');
  });

  it('thins long series but keeps the ends and the spikes', () => {
    const points = Array.from({ length: 10_000 }, (_, i) => ({ x: i, y: i === 5_000 ? 99 : Math.sin(i) }));
    const thinned = thin(points, 600);
    expect(thinned.length).toBeLessThanOrEqual(602);
    expect(thinned[0]).toBe(points[0]);
    expect(thinned[thinned.length - 1]).toBe(points[points.length - 1]);
    expect(thinned.some((p) => p.y === 99)).toBe(true);
    expect(thinned.every((p, i) => i === 0 || p.x > thinned[i - 1].x)).toBe(true);
    expect(thin(points.slice(0, 10))).toHaveLength(10);
  });

  it('cycles series colours', () => {
    expect(seriesColor(0)).toBe(seriesColor(6));
    expect(seriesColor(0)).not.toBe(seriesColor(1));
  });
});

describe('heat map', () => {
  it('goes from white to the accent colour, with light text on dark cells', () => {
    expect(heatColor(0, 10)).toBe('rgb(255 255 255)');
    expect(heatColor(10, 10)).toBe('rgb(58 68 176)');
    expect(heatColor(3, 0)).toBe('rgb(255 255 255)');
    expect(heatTextIsLight(10, 10)).toBe(true);
    expect(heatTextIsLight(1, 10)).toBe(false);
  });
});
