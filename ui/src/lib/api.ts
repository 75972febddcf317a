// Hand-written, typed wrappers around the Tauri IPC commands exposed by src-tauri.
// The DTO types come from the generated ./bindings.ts.
import { invoke } from '@tauri-apps/api/core';
import type { AppError, DatasetSummary, RunSummary, WorkspaceInfo } from './bindings';

export type { AppError, DatasetSummary, RunSummary, WorkspaceInfo };

/** Known run states (RunSummary.status is a plain string on the wire). */
export const RUN_STATUSES = ['queued', 'running', 'finished', 'failed', 'killed'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

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
