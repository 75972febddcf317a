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

  it('calls the data commands with named arguments', async () => {
    invoke.mockResolvedValueOnce({ name: 'penguins', versions: [], lineage: [] });
    await api.datasetDetail('penguins');
    expect(invoke).toHaveBeenLastCalledWith('dataset_detail', { name: 'penguins' });

    invoke.mockResolvedValueOnce({ offset: 100, total: 344, columns: [], rows: [] });
    await api.datasetPage('penguins@2', 100, 100);
    expect(invoke).toHaveBeenLastCalledWith('dataset_page', { reference: 'penguins@2', offset: 100, limit: 100 });

    invoke.mockResolvedValueOnce([{ name: 'penguins', version: 2 }, { rows: 344, columns: [] }]);
    await expect(api.datasetProfile('penguins@2')).resolves.toEqual({
      version: { name: 'penguins', version: 2 },
      profile: { rows: 344, columns: [] },
    });
    expect(invoke).toHaveBeenLastCalledWith('dataset_profile', { reference: 'penguins@2' });

    invoke.mockResolvedValueOnce(null);
    await expect(api.lastQualityReport('penguins@1')).resolves.toBeNull();
    expect(invoke).toHaveBeenLastCalledWith('last_quality_report', { reference: 'penguins@1' });

    invoke.mockResolvedValueOnce({});
    await api.diffDatasets('penguins@1', 'penguins@2', null);
    expect(invoke).toHaveBeenLastCalledWith('diff_datasets', { from: 'penguins@1', to: 'penguins@2', key: null });
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
