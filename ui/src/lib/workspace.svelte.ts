// Shared, reactive workspace state. Views read from `workspace`; `refresh()` reloads
// everything over IPC. Kept outside components so future views (Data, Runs, Registry)
// can share the same data and loading/error state.
import { isTauri, listDatasets, listRuns, toAppError, workspaceInfo } from './api';
import type { AppError, DatasetSummary, RunSummary, WorkspaceInfo } from './bindings';

class WorkspaceStore {
  /** False when running in a plain browser (no Tauri IPC bridge). */
  readonly available: boolean = isTauri();
  info = $state.raw<WorkspaceInfo | null>(null);
  /** null until loaded successfully at least once (so a failed load is not shown as "empty"). */
  datasets = $state.raw<DatasetSummary[] | null>(null);
  runs = $state.raw<RunSummary[] | null>(null);
  error = $state.raw<AppError | null>(null);
  loading = $state(false);
  /** Set once the first load has finished, whether it succeeded or failed. */
  ready = $state(false);
  /** Counts finished refreshes, so views holding their own data reload when it changes. */
  revision = $state(0);
  /** A refresh asked for while one was loading: that one may have read too early, so one more follows. */
  #again = false;

  /**
   * Reloads everything. A call while a load is in flight does not start a second one beside it but
   * is not dropped either: the load in flight may have read the workspace before the change the
   * caller knows of (a job that just ended), so exactly one more load follows it.
   */
  async refresh(): Promise<void> {
    if (this.loading) {
      this.#again = true;
      return;
    }
    if (!this.available) {
      this.ready = true;
      return;
    }
    this.loading = true;
    do {
      this.#again = false;
      await this.#load();
    } while (this.#again);
    this.loading = false;
  }

  async #load(): Promise<void> {
    const [info, datasets, runs] = await Promise.allSettled([workspaceInfo(), listDatasets(), listRuns()]);
    let error: AppError | null = null;
    if (info.status === 'fulfilled') this.info = info.value;
    else error ??= toAppError(info.reason);
    if (datasets.status === 'fulfilled') this.datasets = datasets.value;
    else error ??= toAppError(datasets.reason);
    if (runs.status === 'fulfilled') this.runs = runs.value;
    else error ??= toAppError(runs.reason);
    this.error = error;
    this.ready = true;
    this.revision++;
  }

  dismissError(): void {
    this.error = null;
  }
}

export const workspace = new WorkspaceStore();
