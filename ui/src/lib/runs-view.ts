// Pure logic behind the Runs view: editing the ORDER BY of a query, completing key names, the
// virtual window of a table of many rows, and the chosen columns. No DOM and no IPC.
import type { JsonValue, RunKeys, RunRow } from './bindings';

// ---------------------------------------------------------------------------------------------
// Reading a query just enough to edit it (the real parser is Rust's; see docs/query-language.md)
// ---------------------------------------------------------------------------------------------

type Word = { text: string; upper: string; start: number; end: number };

/** The query's words outside quotes (`'…'`, `"…"`, `` `…` ``), with their positions. */
function words(query: string): Word[] {
  const out: Word[] = [];
  let i = 0;
  while (i < query.length) {
    const c = query[i];
    if (c === "'" || c === '"' || c === '`') {
      const close = query.indexOf(c, i + 1);
      i = close === -1 ? query.length : close + 1;
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      let j = i + 1;
      while (j < query.length && /[A-Za-z0-9_]/.test(query[j])) j++;
      const text = query.slice(i, j);
      out.push({ text, upper: text.toUpperCase(), start: i, end: j });
      i = j;
      continue;
    }
    i++;
  }
  return out;
}

/** Where the query's `ORDER BY` clause and its `LIMIT`/`OFFSET` tail start (-1 when absent). */
function clauses(query: string): { orderBy: number; orderKeys: number; tail: number } {
  const ws = words(query);
  let orderBy = -1;
  let orderKeys = -1;
  let tail = -1;
  for (let k = 0; k < ws.length; k++) {
    const w = ws[k];
    if (orderBy === -1 && w.upper === 'ORDER' && ws[k + 1]?.upper === 'BY') {
      orderBy = w.start;
      orderKeys = ws[k + 1].end;
    }
    if (tail === -1 && (w.upper === 'LIMIT' || w.upper === 'OFFSET')) tail = w.start;
  }
  return { orderBy, orderKeys, tail };
}

export type Direction = 'ASC' | 'DESC';
export type Order = { key: string; direction: Direction };

/** The first ORDER BY key of a query and its direction, or null without ORDER BY. */
export function currentOrder(query: string): Order | null {
  const { orderBy, orderKeys, tail } = clauses(query);
  if (orderBy === -1) return null;
  const first = query.slice(orderKeys, tail > orderKeys ? tail : undefined).split(',')[0].trim();
  if (!first) return null;
  const m = /^(.*?)(?:\s+(ASC|DESC))?$/i.exec(first);
  if (!m) return null;
  return { key: m[1].trim(), direction: (m[2]?.toUpperCase() as Direction) ?? 'ASC' };
}

/** The query with its ORDER BY replaced by (or added as) `ORDER BY key direction`; any
 * LIMIT/OFFSET stays at the end. */
export function withOrder(query: string, order: Order): string {
  const { orderBy, tail } = clauses(query);
  const end = orderBy !== -1 ? orderBy : tail !== -1 ? tail : query.length;
  const head = query.slice(0, end).trim();
  const rest = tail !== -1 && tail >= end ? query.slice(tail).trim() : '';
  const clause = `ORDER BY ${order.key} ${order.direction}`;
  return [head, clause, rest].filter((part) => part !== '').join(' ');
}

/** Clicking a column header: the same key flips its direction; another key sorts by it,
 * numbers (metrics, params) high to low first, text A to Z. */
export function toggleOrder(query: string, key: string): string {
  const now = currentOrder(query);
  if (now && sameKey(now.key, key)) {
    return withOrder(query, { key, direction: now.direction === 'DESC' ? 'ASC' : 'DESC' });
  }
  const numeric = key.startsWith('metrics.') || key.startsWith('params.');
  return withOrder(query, { key, direction: numeric ? 'DESC' : 'ASC' });
}

/** Keys written differently but meaning the same: case of the namespace, backticks. */
export function sameKey(a: string, b: string): boolean {
  const norm = (k: string) => k.replace(/`/g, '').replace(/^(metric|param|tag|attribute|dataset)s?\./i, (_, ns: string) => `${ns.toLowerCase()}s.`);
  return norm(a) === norm(b);
}

/** `namespace.name` as the query language reads it: backticks around names with other
 * characters than letters, digits, `_` and `.`. */
export function keyText(namespace: string, name: string): string {
  return /^[A-Za-z_][A-Za-z0-9_.]*$/.test(name) ? `${namespace}.${name}` : `${namespace}.\`${name.replace(/`/g, '')}\``;
}

// ---------------------------------------------------------------------------------------------
// Completion
// ---------------------------------------------------------------------------------------------

export type Suggestion = { text: string; kind: 'metric' | 'param' | 'tag' | 'attribute' | 'dataset' | 'keyword' };

const NAMESPACES: Array<[string, Suggestion['kind'], keyof RunKeys]> = [
  ['metrics', 'metric', 'metrics'],
  ['params', 'param', 'params'],
  ['tags', 'tag', 'tags'],
  ['attributes', 'attribute', 'attributes'],
  ['datasets', 'dataset', 'datasets'],
];
const KEYWORDS = ['AND', 'OR', 'NOT', 'IN', 'IS NULL', 'IS NOT NULL', 'LIKE', 'ILIKE', 'ORDER BY', 'ASC', 'DESC', 'LIMIT'];

/** The partly typed key or word that ends at `cursor`: its start and text ('' when none, or
 * when the cursor is inside a quoted value). */
export function tokenAt(query: string, cursor: number): { start: number; text: string } | null {
  // Inside quotes? Count unescaped quote characters before the cursor.
  let quote: string | null = null;
  for (let i = 0; i < cursor; i++) {
    const c = query[i];
    if (quote) {
      if (c === quote) quote = null;
    } else if (c === "'" || c === '"') quote = c;
  }
  if (quote) return null;
  let start = cursor;
  while (start > 0 && /[A-Za-z0-9_.`]/.test(query[start - 1])) start--;
  return { start, text: query.slice(start, cursor) };
}

/** Suggestions for the token ending at `cursor`: key names after `metrics.` (and the other
 * namespaces), else keys whose name starts with (then contains) what was typed, and keywords. */
export function completions(query: string, cursor: number, keys: RunKeys, max = 12): Suggestion[] {
  const token = tokenAt(query, cursor);
  if (!token) return [];
  const typed = token.text.replace(/`/g, '');
  const dot = typed.indexOf('.');
  const out: Suggestion[] = [];
  if (dot !== -1) {
    const ns = typed.slice(0, dot).toLowerCase();
    const rest = typed.slice(dot + 1).toLowerCase();
    const entry = NAMESPACES.find(([name]) => name === ns || name === `${ns}s`);
    if (!entry) return [];
    const [name, kind, field] = entry;
    const names = keys[field];
    const starts = names.filter((n) => n.toLowerCase().startsWith(rest));
    const contains = names.filter((n) => !n.toLowerCase().startsWith(rest) && n.toLowerCase().includes(rest));
    for (const n of [...starts, ...contains]) out.push({ text: keyText(name, n), kind });
    return out.filter((s) => s.text !== token.text).slice(0, max);
  }
  const lower = typed.toLowerCase();
  if (lower === '') return [];
  const ranked: Array<[number, Suggestion]> = [];
  for (const [name, kind, field] of NAMESPACES) {
    if (name.startsWith(lower)) ranked.push([0, { text: `${name}.`, kind }]);
    for (const n of keys[field]) {
      const l = n.toLowerCase();
      if (l.startsWith(lower)) ranked.push([1, { text: keyText(name, n), kind }]);
      else if (l.includes(lower)) ranked.push([3, { text: keyText(name, n), kind }]);
    }
  }
  for (const k of KEYWORDS) if (k.toLowerCase().startsWith(lower)) ranked.push([2, { text: k, kind: 'keyword' }]);
  ranked.sort((a, b) => a[0] - b[0]);
  return ranked.map(([, s]) => s).slice(0, max);
}

/** The query with the token at `cursor` replaced by `suggestion`, and where the cursor goes. */
export function applyCompletion(query: string, cursor: number, suggestion: Suggestion): { text: string; cursor: number } {
  const token = tokenAt(query, cursor) ?? { start: cursor, text: '' };
  const before = query.slice(0, token.start);
  let after = query.slice(cursor);
  // Swallow the rest of the word the cursor sits in.
  const rest = /^[A-Za-z0-9_.`]*/.exec(after)?.[0] ?? '';
  after = after.slice(rest.length);
  const insert = suggestion.text.endsWith('.') || after.startsWith(' ') ? suggestion.text : `${suggestion.text} `;
  return { text: before + insert + after, cursor: before.length + insert.length };
}

/** The 1-based column an error message of the query language points at, if it names one. */
export function errorColumn(message: string): number | null {
  const m = /at column (\d+)/.exec(message);
  return m ? Number(m[1]) : null;
}

// ---------------------------------------------------------------------------------------------
// The virtual window: which rows are in the DOM, which pages to fetch
// ---------------------------------------------------------------------------------------------

/** Runs fetched per `search_runs` call. */
export const RUNS_PAGE = 200;

export type Window = { first: number; last: number; top: number; bottom: number };

/**
 * Rows `first .. last` (exclusive) to render for a viewport scrolled to `scrollTop`, with
 * `overscan` rows above and below; `top`/`bottom` are the heights of the spacers standing in
 * for the rows not rendered.
 */
export function virtualWindow(scrollTop: number, viewport: number, rowHeight: number, total: number, overscan = 10): Window {
  if (total <= 0 || rowHeight <= 0) return { first: 0, last: 0, top: 0, bottom: 0 };
  const maxTop = Math.max(0, total * rowHeight - viewport);
  const top = Math.min(Math.max(scrollTop, 0), maxTop);
  const first = Math.max(0, Math.floor(top / rowHeight) - overscan);
  const last = Math.min(total, Math.ceil((top + Math.max(viewport, 0)) / rowHeight) + overscan);
  return { first, last, top: first * rowHeight, bottom: (total - last) * rowHeight };
}

/** The page numbers holding rows `first .. last` (exclusive). */
export function pagesFor(first: number, last: number, pageSize = RUNS_PAGE): number[] {
  if (last <= first) return [];
  const out: number[] = [];
  for (let p = Math.floor(first / pageSize); p <= Math.floor((last - 1) / pageSize); p++) out.push(p);
  return out;
}

/** "1–200 of 100,000" numbers: the rows shown, 1-based. */
export function shownRange(first: number, last: number, total: number): { from: number; to: number } {
  if (total === 0) return { from: 0, to: 0 };
  return { from: first + 1, to: Math.min(last, total) };
}

// ---------------------------------------------------------------------------------------------
// Columns
// ---------------------------------------------------------------------------------------------

export const COLUMNS_STORAGE_KEY = 'cairn.runs.columns';

/** What to show when nothing was chosen yet: the usual scores and the usual knobs that exist. */
export function defaultColumns(keys: RunKeys): string[] {
  const metrics = ['test_accuracy', 'val_accuracy', 'loss', 'test_r2', 'test_rmse'].filter((k) => keys.metrics.includes(k)).slice(0, 3);
  // Four value columns fit beside the fixed ones in the default window (1280 px).
  const params = ['lr', 'epochs', 'optimizer'].filter((k) => keys.params.includes(k)).slice(0, Math.max(1, 4 - metrics.length));
  return [...metrics.map((k) => keyText('metrics', k)), ...params.map((k) => keyText('params', k))];
}

/** Every column the chooser offers, by group. */
export function columnChoices(keys: RunKeys): Array<{ group: 'metrics' | 'params' | 'tags'; key: string; name: string }> {
  return [
    ...keys.metrics.map((name) => ({ group: 'metrics' as const, key: keyText('metrics', name), name })),
    ...keys.params.map((name) => ({ group: 'params' as const, key: keyText('params', name), name })),
    ...keys.tags.map((name) => ({ group: 'tags' as const, key: keyText('tags', name), name })),
  ];
}

/** Stored columns, or null when none (or unreadable) were stored. */
export function parseStoredColumns(text: string | null): string[] | null {
  if (!text) return null;
  try {
    const value: unknown = JSON.parse(text);
    return Array.isArray(value) && value.every((v) => typeof v === 'string') ? (value as string[]) : null;
  } catch {
    return null;
  }
}

/** A run's value in a chosen column (`metrics.x`, `params.x`, `tags.x`); undefined when absent. */
export function columnValue(row: RunRow, key: string): JsonValue | undefined {
  const dot = key.indexOf('.');
  const ns = key.slice(0, dot);
  const name = key.slice(dot + 1).replace(/`/g, '');
  if (ns === 'metrics') return row.metrics[name];
  if (ns === 'params') return row.params[name];
  if (ns === 'tags') return row.tags[name];
  return undefined;
}

/** A column's header: the name without its namespace. */
export function columnName(key: string): string {
  return key.slice(key.indexOf('.') + 1).replace(/`/g, '');
}
