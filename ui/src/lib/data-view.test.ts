import { describe, expect, it } from 'vitest';
import type { JsonValue, LineageEdge } from './bindings';
import {
  compactNumber,
  fileSize,
  dtypeLabel,
  histogramBars,
  lastPageOffset,
  offsetForRow,
  pageRange,
  parseRef,
  splitDetails,
  versionRef,
} from './data-view';
import { setLocale } from './i18n';

describe('references', () => {
  it('builds and parses name@version', () => {
    expect(versionRef('penguins', 2)).toBe('penguins@2');
    expect(parseRef('penguins-train@1')).toEqual({ name: 'penguins-train', version: 1 });
    expect(parseRef('penguins')).toEqual({ name: 'penguins', version: null });
    expect(parseRef('penguins@latest')).toEqual({ name: 'penguins', version: null });
  });
});

describe('paging', () => {
  it('shows 1-based ranges', () => {
    expect(pageRange(0, 100)).toEqual({ from: 1, to: 100 });
    expect(pageRange(100, 100)).toEqual({ from: 101, to: 200 });
    expect(pageRange(300, 44)).toEqual({ from: 301, to: 344 });
  });

  it('finds the last page boundary', () => {
    expect(lastPageOffset(344)).toBe(300);
    expect(lastPageOffset(300)).toBe(200);
    expect(lastPageOffset(0)).toBe(0);
    expect(lastPageOffset(5_000_000)).toBe(4_999_900);
  });

  it('jumps to a row inside the data set', () => {
    expect(offsetForRow(151, 344)).toBe(150);
    expect(offsetForRow(0, 344)).toBe(0);
    expect(offsetForRow(10_000, 344)).toBe(343);
    expect(offsetForRow(Number.NaN, 344)).toBe(0);
    expect(offsetForRow(5, 0)).toBe(0);
  });
});

describe('histogram bars', () => {
  it('scales the tallest bin to full height and keeps the bin edges', () => {
    const bars = histogramBars({ edges: [0, 1, 2, 3], counts: [2, 4, 0] }, 300, 60, 0);
    expect(bars).toHaveLength(3);
    expect(bars[1]).toMatchObject({ x: 100, y: 0, width: 100, height: 60, from: 1, to: 2, count: 4 });
    expect(bars[0].height).toBe(30);
    expect(bars[2].height).toBe(0);
  });

  it('draws nothing for an empty histogram and no height when every bin is empty', () => {
    expect(histogramBars({ edges: [], counts: [] }, 300, 60)).toEqual([]);
    expect(histogramBars({ edges: [0, 1], counts: [0] }, 300, 60)[0].height).toBe(0);
  });
});

describe('numbers and types', () => {
  it('formats compactly', () => {
    expect(compactNumber(43.921929824561, 'en')).toBe('43.92');
    expect(compactNumber(4201.754385964912, 'en')).toBe('4,202');
    expect(compactNumber(123456.7, 'en')).toBe('123,456.7');
    expect(compactNumber(0.00001234, 'en')).toBe('1.23E-5');
    expect(compactNumber(0, 'en')).toBe('0');
  });

  it('names column types in the active locale', () => {
    setLocale('en', false);
    expect(dtypeLabel('integer')).toBe('integer');
    expect(dtypeLabel({ other: 'BLOB' })).toBe('BLOB');
    setLocale('zh-CN', false);
    expect(dtypeLabel('float')).toBe('浮点');
    setLocale('en', false);
  });
});

describe('split lineage', () => {
  const edge = (details: JsonValue): LineageEdge => ({
    child: 'penguins-train@1',
    parent: 'penguins@2',
    kind: 'split',
    details,
    parent_deleted: false,
  });

  it('reads what `cairn data split` records', () => {
    const d = splitDetails(
      edge({ part: 'train', parts: [['train', 0.8], ['test', 0.2]], seed: 7, stratify: 'species', group: null }),
    );
    expect(d).toEqual({
      part: 'train',
      parts: [
        { name: 'train', ratio: 0.8 },
        { name: 'test', ratio: 0.2 },
      ],
      seed: 7,
      stratify: 'species',
      group: null,
    });
  });

  it('tolerates details of another shape', () => {
    expect(splitDetails(edge(null))).toEqual({ part: null, parts: [], seed: null, stratify: null, group: null });
    expect(splitDetails(edge({ parts: 'x' })).parts).toEqual([]);
  });
});

describe('fileSize', () => {
  it('says bytes below 1 KiB and KiB above', () => {
    expect(fileSize(1, 'en')).toBe('1 byte');
    expect(fileSize(765, 'en')).toBe('765 bytes');
    expect(fileSize(1536, 'en')).toBe('1.5 KiB');
  });
});
