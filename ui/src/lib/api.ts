// Hand-written, typed wrappers around the Tauri IPC commands exposed by src-tauri.
// The DTO types come from the generated ./bindings.ts.
import { invoke } from '@tauri-apps/api/core';
import type {
  AppError,
  ApprovalOutcome,
  AuditEntry,
  AuditReport,
  BundleExportForm,
  BundleInspection,
  JobInfo,
  ModelPage,
  ModelSummary,
  PromotionOutcome,
  VersionEvidence,
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
 * Starts training as a job and resolves at once with it. Its progress (each epoch with that
 * epoch's metrics) and its end (the recorded run, finished or killed by `cancelJob`) arrive as
 * job events: follow it with `jobs.follow` (jobs.svelte.ts).
 */
export function startTraining(form: TrainForm): Promise<JobInfo> {
  return call<JobInfo>('start_training', { form });
}

/** Every job of this window, oldest first. */
export function listJobs(): Promise<JobInfo[]> {
  return call<JobInfo[]>('list_jobs');
}

/** Asks a job to stop at its next step; false when no such job runs. */
export function cancelJob(id: string): Promise<boolean> {
  return call<boolean>('cancel_job', { id });
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
 * Starts writing a finished run's bundle as a job and resolves at once with it; its stages and
 * its outcome (`bundle`) arrive as job events. Cancelled by `cancelJob` (nothing is written).
 */
export function exportBundle(form: BundleExportForm): Promise<JobInfo> {
  return call<JobInfo>('export_bundle', { form });
}

/** Verifies a bundle file (against the public key files in `trust`, when any) and reads its
 * manifest, signature and lineage. */
export function inspectBundle(path: string, trust: string[]): Promise<BundleInspection> {
  return call<BundleInspection>('inspect_bundle', { path, trust });
}

/** Starts importing a bundle into this workspace as a job (verified first; `trust` as in
 * `inspectBundle`): the run, its model files and, from a snapshot, its data version. The job
 * fails for a run already here; its outcome (`imported`) is an `ImportSummary`. */
export function importBundle(path: string, trust: string[]): Promise<JobInfo> {
  return call<JobInfo>('import_bundle', { path, trust });
}

/** Every registered model: its versions, latest version and aliases. */
export function listModels(): Promise<ModelSummary[]> {
  return call<ModelSummary[]>('list_models');
}

/** One model: every version with its test metrics and aliases, the policy in force, and every
 * move of its aliases. */
export function modelDetail(name: string): Promise<ModelPage> {
  return call<ModelPage>('model_detail', { name });
}

/** One version (`name@3`, `name@production`): signature, stored gate reports, approvals and the
 * alias moves that touched it. */
export function modelVersion(reference: string): Promise<VersionEvidence> {
  return call<VersionEvidence>('model_version', { reference });
}

export type PromoteRequest = { force: boolean; reason: string | null; key: string | null; dryRun: boolean };

/**
 * Moves `alias` to `reference`'s version through the policy's gates. With `dryRun` the gates are
 * only evaluated: nothing is stored and nothing moves. A refusal rejects with code `gate_failed`
 * naming each failing check; `force` with a `reason` moves it anyway (recorded as forced).
 */
export function promoteModel(reference: string, alias: string, request: PromoteRequest): Promise<PromotionOutcome> {
  return call<PromotionOutcome>('promote_model', {
    reference,
    alias,
    force: request.force,
    reason: request.reason,
    key: request.key,
    dryRun: request.dryRun,
  });
}

/** Signs an approval of moving `alias` to `reference`'s version with a secret key file. */
export function approveModel(reference: string, alias: string, key: string, comment: string): Promise<ApprovalOutcome> {
  return call<ApprovalOutcome>('approve_model', { reference, alias, key, comment });
}

/** Audit entries from `since` (RFC 3339 or a date) about `subject` (and what is under it), the
 * newest `limit`, oldest first. */
export function auditLog(since: string | null, subject: string | null, limit: number): Promise<AuditEntry[]> {
  return call<AuditEntry[]>('audit_log', { since, subject, limit });
}

/** Verifies the audit log's hash chain and its signed checkpoints. */
export function auditVerify(): Promise<AuditReport> {
  return call<AuditReport>('audit_verify');
}
