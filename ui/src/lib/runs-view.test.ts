import { describe, expect, it } from 'vitest';
import type { RunKeys, RunRow } from './bindings';
import {
  applyCompletion,
  columnValue,
  completions,
  currentOrder,
  defaultColumns,
  errorColumn,
  keyText,
  pagesFor,
  parseStoredColumns,
  shownRange,
  toggleOrder,
  tokenAt,
  virtualWindow,
  withOrder,
} from './runs-view';

const KEYS: RunKeys = {
  metrics: ['loss', 'test_accuracy', 'val_accuracy', 'system/cpu'],
  params: ['epochs', 'lr', 'optimizer'],
  tags: ['team'],
  attributes: ['created_at', 'model', 'name', 'status'],
  datasets: ['hash', 'name', 'version'],
};

describe('ORDER BY editing', () => {
  const cases: Array<[string, string, 'ASC' | 'DESC', string]> = [
    ['', 'metrics.loss', 'ASC', 'ORDER BY metrics.loss ASC'],
    ['params.lr < 0.1', 'metrics.loss', 'DESC', 'params.lr < 0.1 ORDER BY metrics.loss DESC'],
    ['params.lr < 0.1 ORDER BY attributes.name', 'metrics.loss', 'DESC', 'params.lr < 0.1 ORDER BY metrics.loss DESC'],
    ['params.lr < 0.1 order by metrics.a DESC, metrics.b LIMIT 5', 'params.lr', 'ASC', 'params.lr < 0.1 ORDER BY params.lr ASC LIMIT 5'],
    ['risk LIMIT 10 OFFSET 20', 'metrics.loss', 'ASC', 'risk ORDER BY metrics.loss ASC LIMIT 10 OFFSET 20'],
    ["tags.note = 'order by me'", 'metrics.loss', 'ASC', "tags.note = 'order by me' ORDER BY metrics.loss ASC"],
  ];
  for (const [query, key, direction, expected] of cases) {
    it(`${JSON.stringify(query)} by ${key} ${direction}`, () => {
      expect(withOrder(query, { key, direction })).toBe(expected);
    });
  }

  it('reads the current order', () => {
    expect(currentOrder('x ORDER BY metrics.loss DESC, params.lr LIMIT 3')).toEqual({ key: 'metrics.loss', direction: 'DESC' });
    expect(currentOrder('ORDER BY params.lr')).toEqual({ key: 'params.lr', direction: 'ASC' });
    expect(currentOrder("name = 'ORDER BY x'")).toBeNull();
  });

  it('a header click sorts numbers high to low, then flips', () => {
    const once = toggleOrder('params.lr < 1', 'metrics.test_accuracy');
    expect(once).toBe('params.lr < 1 ORDER BY metrics.test_accuracy DESC');
    expect(toggleOrder(once, 'metrics.test_accuracy')).toBe('params.lr < 1 ORDER BY metrics.test_accuracy ASC');
    expect(toggleOrder(once, 'attributes.name')).toBe('params.lr < 1 ORDER BY attributes.name ASC');
    expect(toggleOrder('ORDER BY metric.loss DESC', 'metrics.loss')).toBe('ORDER BY metrics.loss ASC');
  });

  it('quotes names the grammar cannot read bare', () => {
    expect(keyText('metrics', 'val.acc')).toBe('metrics.val.acc');
    expect(keyText('metrics', 'system/cpu')).toBe('metrics.`system/cpu`');
  });
});

describe('completion', () => {
  const texts = (q: string, cursor = q.length) => completions(q, cursor, KEYS).map((s) => s.text);

  it('completes names after a namespace', () => {
    expect(texts('metrics.')).toEqual(['metrics.loss', 'metrics.test_accuracy', 'metrics.val_accuracy', 'metrics.`system/cpu`']);
    expect(texts('params.lr > 0.1 AND metrics.val')).toEqual(['metrics.val_accuracy']);
    expect(texts('metrics.acc')).toEqual(['metrics.test_accuracy', 'metrics.val_accuracy']);
    expect(texts('max(metrics.lo')).toEqual(['metrics.loss']);
    expect(texts('param.l')).toEqual(['params.lr']);
    expect(texts('tags.')).toEqual(['tags.team']);
  });

  it('suggests namespaces, keys by name, and keywords for a bare word', () => {
    const got = texts('met');
    expect(got[0]).toBe('metrics.');
    expect(texts('val_')).toEqual(['metrics.val_accuracy']);
    expect(texts('params.lr > 1 an')).toContain('AND');
    expect(texts('')).toEqual([]);
  });

  it('does not complete inside quoted text', () => {
    expect(tokenAt("tags.team = 'metr", 17)).toBeNull();
    expect(texts("tags.team = 'metr")).toEqual([]);
  });

  it('replaces the word being typed', () => {
    const q = 'params.lr < 0.1 AND metrics.va';
    const done = applyCompletion(q, q.length, { text: 'metrics.val_accuracy', kind: 'metric' });
    expect(done).toEqual({ text: 'params.lr < 0.1 AND metrics.val_accuracy ', cursor: q.length + 'l_accuracy '.length });
    const mid = applyCompletion('metrics.va > 1', 10, { text: 'metrics.val_accuracy', kind: 'metric' });
    expect(mid.text).toBe('metrics.val_accuracy > 1');
    expect(applyCompletion('met', 3, { text: 'metrics.', kind: 'metric' })).toEqual({ text: 'metrics.', cursor: 8 });
  });

  it('finds the column of an error', () => {
    expect(errorColumn('cannot read the query at column 15: expected a value')).toBe(15);
    expect(errorColumn('no such attribute')).toBeNull();
  });
});

describe('virtual window', () => {
  it('renders only the rows in view, plus overscan', () => {
    const w = virtualWindow(0, 600, 30, 100_000, 10);
    expect(w).toEqual({ first: 0, last: 30, top: 0, bottom: (100_000 - 30) * 30 });
    const mid = virtualWindow(30 * 5000 + 7, 600, 30, 100_000, 10);
    expect(mid.first).toBe(4990);
    expect(mid.last).toBe(5031);
    expect(mid.top + (mid.last - mid.first) * 30 + mid.bottom).toBe(100_000 * 30);
  });

  it('stays inside the table at the bottom and when scrolled past it', () => {
    const end = virtualWindow(10_000_000, 600, 30, 3000, 5);
    expect(end.last).toBe(3000);
    expect(end.first).toBe(3000 - 20 - 5);
    expect(end.bottom).toBe(0);
    expect(virtualWindow(0, 600, 30, 0)).toEqual({ first: 0, last: 0, top: 0, bottom: 0 });
    expect(virtualWindow(0, 600, 30, 5).last).toBe(5);
  });

  it('names the pages to fetch', () => {
    expect(pagesFor(0, 30)).toEqual([0]);
    expect(pagesFor(190, 230)).toEqual([0, 1]);
    expect(pagesFor(2990, 3000)).toEqual([14]);
    expect(pagesFor(5, 5)).toEqual([]);
  });

  it('counts rows 1-based', () => {
    expect(shownRange(0, 200, 100_000)).toEqual({ from: 1, to: 200 });
    expect(shownRange(2990, 3030, 3000)).toEqual({ from: 2991, to: 3000 });
    expect(shownRange(0, 0, 0)).toEqual({ from: 0, to: 0 });
  });
});

describe('columns', () => {
  it('defaults to the usual scores and knobs that exist', () => {
    expect(defaultColumns(KEYS)).toEqual(['metrics.test_accuracy', 'metrics.val_accuracy', 'metrics.loss', 'params.lr']);
    expect(defaultColumns({ ...KEYS, metrics: ['loss'] })).toEqual(['metrics.loss', 'params.lr', 'params.epochs', 'params.optimizer']);
  });

  it('reads stored choices defensively', () => {
    expect(parseStoredColumns('["metrics.loss"]')).toEqual(['metrics.loss']);
    expect(parseStoredColumns('{"a":1}')).toBeNull();
    expect(parseStoredColumns('not json')).toBeNull();
    expect(parseStoredColumns(null)).toBeNull();
  });

  it('reads a run value per column', () => {
    const row = {
      metrics: { loss: 0.5, 'system/cpu': 12 },
      params: { lr: 0.1 },
      tags: { team: 'risk' },
    } as unknown as RunRow;
    expect(columnValue(row, 'metrics.loss')).toBe(0.5);
    expect(columnValue(row, 'metrics.`system/cpu`')).toBe(12);
    expect(columnValue(row, 'params.lr')).toBe(0.1);
    expect(columnValue(row, 'tags.team')).toBe('risk');
    expect(columnValue(row, 'params.none')).toBeUndefined();
  });
});
