import { beforeEach, describe, expect, it, vi } from 'vitest';

const invoke = vi.fn();
vi.mock('@tauri-apps/api/core', () => ({ invoke: (...args: unknown[]) => invoke(...args) }));

const api = await import('./api');

describe('api', () => {
  beforeEach(() => invoke.mockReset());

  it('calls the right commands', async () => {
    invoke.mockResolvedValueOnce({ path: '/w', schema_version: 1, datasets: 0, runs: 0 });
    await expect(api.workspaceInfo()).resolves.toMatchObject({ path: '/w' });
    expect(invoke).toHaveBeenLastCalledWith('workspace_info', undefined);

    invoke.mockResolvedValueOnce([]);
    await api.listDatasets();
    expect(invoke).toHaveBeenLastCalledWith('list_datasets', undefined);

    invoke.mockResolvedValueOnce([]);
    await api.listRuns();
    expect(invoke).toHaveBeenLastCalledWith('list_runs', undefined);
  });

  it('passes AppError rejections through', async () => {
    invoke.mockRejectedValueOnce({ code: 'workspace_not_found', message: 'no .cairn here' });
    await expect(api.listRuns()).rejects.toEqual({ code: 'workspace_not_found', message: 'no .cairn here' });
  });

  it('normalises other rejections into AppError', async () => {
    invoke.mockRejectedValueOnce('command list_runs not found');
    await expect(api.listRuns()).rejects.toEqual({ code: 'ipc', message: 'command list_runs not found' });
    expect(api.toAppError(new Error('boom'))).toEqual({ code: 'ipc', message: 'boom' });
    expect(api.toAppError(42)).toEqual({ code: 'unknown', message: '42' });
  });

  it('detects the absence of Tauri', () => {
    expect(api.isTauri()).toBe(false);
  });
});
