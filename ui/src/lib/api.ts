// Hand-written, typed wrappers around the Tauri IPC commands exposed by src-tauri.
// The DTO types come from the generated ./bindings.ts.
import { Channel, invoke } from '@tauri-apps/api/core';
import type {
  AppError,
  BundleExported,
  BundleExportForm,
  BundleInspection,
  ImportSummary,
  DatasetDetail,
  DatasetDiff,
  DatasetProfile,
  DatasetSummary,
  DatasetVersion,
  QualityReport,
  RowPage,
  RunComparison,
  RunKeys,
  RunPage,
  RunSummary,
  SearchPage,
  TrainChoices,
  TrainForm,
  TrainProgress,
  WorkspaceInfo,
} from './bindings';

export type { AppError, DatasetSummary, RunSummary, WorkspaceInfo };

/** Known run states (RunSummary.status is a plain string on the wire). */
export const RUN_STATUSES = ['queued', 'running', 'finished', 'failed', 'killed'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/** The most rows one `dataset_page` call returns (the store caps `limit` there). */
export const MAX_PAGE_ROWS = 10_000;

/** True when the page runs inside the Tauri webview (IPC bridge present). */
export function isTauri(): boolean {
  return typeof window !== 'undefined' && (window as unknown as Record<string, unknown>).__TAURI_INTERNALS__ !== undefined;
}

export function isAppError(value: unknown): value is AppError {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as AppError).code === 'string' &&
    typeof (value as AppError).message === 'string'
  );
}

/** Normalise anything thrown by `invoke` (AppError object, string, Error, ...) into an AppError. */
export function toAppError(error: unknown): AppError {
  if (isAppError(error)) return { code: error.code, message: error.message };
  if (typeof error === 'string') return { code: 'ipc', message: error };
  if (error instanceof Error) return { code: 'ipc', message: error.message };
  return { code: 'unknown', message: String(error) };
}

async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (error) {
    throw toAppError(error);
  }
}

export function workspaceInfo(): Promise<WorkspaceInfo> {
  return call<WorkspaceInfo>('workspace_info');
}

export function listDatasets(): Promise<DatasetSummary[]> {
  return call<DatasetSummary[]>('list_datasets');
}

export function listRuns(): Promise<RunSummary[]> {
  return call<RunSummary[]>('list_runs');
}

/** Every live version of one data set (oldest first) and the lineage edges that touch it. */
export function datasetDetail(name: string): Promise<DatasetDetail> {
  return call<DatasetDetail>('dataset_detail', { name });
}

/** One page of rows; `reference` is `name`, `name@3` or `name@latest`. */
export function datasetPage(reference: string, offset: number, limit: number): Promise<RowPage> {
  return call<RowPage>('dataset_page', { reference, offset, limit });
}

export type VersionProfile = { version: DatasetVersion; profile: DatasetProfile };

/** The profile stored with a version, and the version it resolved to. */
export async function datasetProfile(reference: string): Promise<VersionProfile> {
  const [version, profile] = await call<[DatasetVersion, DatasetProfile]>('dataset_profile', { reference });
  return { version, profile };
}

/** The last `cairn data check` report of a version, or null when it was never checked. */
export function lastQualityReport(reference: string): Promise<QualityReport | null> {
  return call<QualityReport | null>('last_quality_report', { reference });
}

/** Differences from `from` to `to`; rows are matched on `key` when given, else by content. */
export function diffDatasets(from: string, to: string, key: string | null): Promise<DatasetDiff> {
  return call<DatasetDiff>('diff_datasets', { from, to, key });
}

/** Every model's params with their defaults, and the devices this build can train on. */
export function trainChoices(): Promise<TrainChoices> {
  return call<TrainChoices>('train_choices');
}

/**
 * Trains a model as the window's one job. `onProgress` gets each step as it happens (per epoch
 * with that epoch's metrics); the promise settles with the recorded run when training ends,
 * finished or killed by `cancelTraining`.
 */
export function startTraining(form: TrainForm, onProgress: (step: TrainProgress) => void): Promise<RunSummary> {
  const channel = new Channel<TrainProgress>(onProgress);
  return call<RunSummary>('start_training', { form, onProgress: channel });
}

/** Asks the running training job to stop; false when none runs. */
export function cancelTraining(): Promise<boolean> {
  return call<boolean>('cancel_training');
}

/** One run with its metric history, artifacts and held-out evaluation. */
export function runPage(key: string): Promise<RunPage> {
  return call<RunPage>('run_page', { key });
}

/** Runs matching a query of the query language, the page `offset .. offset + limit`. A query
 * that does not parse rejects with code `query` and a message naming the column. */
export function searchRuns(query: string, limit: number, offset: number): Promise<SearchPage> {
  return call<SearchPage>('search_runs', { query, limit, offset });
}

/** The metric, param, tag, attribute and data set names a query can use. */
export function runKeys(): Promise<RunKeys> {
  return call<RunKeys>('run_keys');
}

/** Runs side by side; each history thinned in Rust (LTTB) to at most `maxPoints` points. */
export function compareRuns(ids: string[], maxPoints: number, metrics: string[] = []): Promise<RunComparison> {
  return call<RunComparison>('compare_runs', { ids, maxPoints, metrics });
}

/**
 * Writes a finished run's bundle as the window's one job; `onProgress` gets each stage. The
 * promise rejects with code `cancelled` after `cancelTraining` (nothing is written then).
 */
export function exportBundle(form: BundleExportForm, onProgress: (step: TrainProgress) => void): Promise<BundleExported> {
  const channel = new Channel<TrainProgress>(onProgress);
  return call<BundleExported>('export_bundle', { form, onProgress: channel });
}

/** Verifies a bundle file (against the public key files in `trust`, when any) and reads its
 * manifest, signature and lineage. */
export function inspectBundle(path: string, trust: string[]): Promise<BundleInspection> {
  return call<BundleInspection>('inspect_bundle', { path, trust });
}

/** Imports a bundle into this workspace (verified first; `trust` as in `inspectBundle`): the
 * run, its model files and, from a snapshot, its data version. Rejects a run already here. */
export function importBundle(path: string, trust: string[]): Promise<ImportSummary> {
  return call<ImportSummary>('import_bundle', { path, trust });
}
