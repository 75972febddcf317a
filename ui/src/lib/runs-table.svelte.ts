// The Runs view's state, outside the component so the query, the loaded pages, the selection
// and the scroll position survive a trip to a run page or the Compare view.
import { runKeys, searchRuns, toAppError } from './api';
import type { AppError, RunKeys, RunRow } from './bindings';
import { COLUMNS_STORAGE_KEY, RUNS_PAGE, defaultColumns, parseStoredColumns } from './runs-view';

function storage(): Storage | null {
  try {
    return typeof localStorage !== 'undefined' ? localStorage : null;
  } catch {
    return null;
  }
}

class RunsTable {
  /** What the search bar holds (the query is run on Enter). */
  draft = $state('');
  /** The query the table shows. */
  query = $state('');
  /** Matching runs in all; null before the first answer. */
  total = $state<number | null>(null);
  /** How long the last page's search took in Rust, in milliseconds. */
  tookMs = $state<number | null>(null);
  /** The last query's error (code `query`: it did not parse; the message names the column). */
  error = $state.raw<AppError | null>(null);
  loading = $state(false);
  keys = $state.raw<RunKeys | null>(null);
  /** Loaded pages of `RUNS_PAGE` runs, by page number. */
  pages = $state.raw<Record<number, RunRow[]>>({});
  /** Ids of the runs ticked for comparing, in the order ticked. */
  selected = $state.raw<string[]>([]);
  /** The metric/param/tag columns shown (`metrics.loss`, …); null until chosen or defaulted. */
  columns = $state.raw<string[] | null>(parseStoredColumns(storage()?.getItem(COLUMNS_STORAGE_KEY) ?? null));
  /** Where the table was scrolled, to come back to it. */
  scrollTop = 0;
  #generation = 0;
  #inFlight = new Set<number>();

  /** Runs `query` from its first page (keeps the selection). */
  async search(query: string): Promise<void> {
    const generation = ++this.#generation;
    this.#inFlight.clear();
    this.query = query;
    this.loading = true;
    try {
      const page = await searchRuns(query, RUNS_PAGE, 0);
      if (generation !== this.#generation) return;
      this.pages = { 0: page.runs };
      this.total = page.total;
      this.tookMs = page.took_ms;
      this.error = null;
    } catch (e) {
      if (generation !== this.#generation) return;
      this.error = toAppError(e);
      this.pages = {};
      this.total = null;
    } finally {
      if (generation === this.#generation) this.loading = false;
    }
  }

  /** Fetches the pages not loaded yet (each once, even while scrolling fast). */
  ensurePages(pages: number[]): void {
    for (const p of pages) {
      if (this.pages[p] || this.#inFlight.has(p)) continue;
      void this.#load(p);
    }
  }

  async #load(p: number): Promise<void> {
    const generation = this.#generation;
    this.#inFlight.add(p);
    try {
      const page = await searchRuns(this.query, RUNS_PAGE, p * RUNS_PAGE);
      if (generation !== this.#generation) return;
      this.pages = { ...this.pages, [p]: page.runs };
      this.total = page.total;
      this.tookMs = page.took_ms;
    } catch (e) {
      if (generation === this.#generation) this.error = toAppError(e);
    } finally {
      if (generation === this.#generation) this.#inFlight.delete(p);
    }
  }

  /** The run at 0-based `index`, when its page is loaded. */
  row(index: number): RunRow | undefined {
    return this.pages[Math.floor(index / RUNS_PAGE)]?.[index % RUNS_PAGE];
  }

  async loadKeys(): Promise<void> {
    try {
      const keys = await runKeys();
      this.keys = keys;
      if (this.columns === null) this.columns = defaultColumns(keys);
    } catch (e) {
      this.error ??= toAppError(e);
    }
  }

  setColumns(columns: string[]): void {
    this.columns = columns;
    try {
      storage()?.setItem(COLUMNS_STORAGE_KEY, JSON.stringify(columns));
    } catch {
      // Storage may be unavailable; the choice then lasts for this session.
    }
  }

  toggleColumn(key: string): void {
    const now = this.columns ?? [];
    this.setColumns(now.includes(key) ? now.filter((k) => k !== key) : [...now, key]);
  }

  toggleSelected(id: string): void {
    this.selected = this.selected.includes(id) ? this.selected.filter((s) => s !== id) : [...this.selected, id];
  }

  clearSelection(): void {
    this.selected = [];
  }
}

export const runsTable = new RunsTable();
