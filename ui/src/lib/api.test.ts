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

  it('calls the search and compare commands with named (camelCase) arguments', async () => {
    invoke.mockResolvedValueOnce({ total: 0, offset: 200, runs: [], took_ms: 1 });
    await api.searchRuns('params.lr < 0.1', 200, 200);
    expect(invoke).toHaveBeenLastCalledWith('search_runs', { query: 'params.lr < 0.1', limit: 200, offset: 200 });

    invoke.mockResolvedValueOnce({ metrics: [], params: [], tags: [], attributes: [], datasets: [] });
    await api.runKeys();
    expect(invoke).toHaveBeenLastCalledWith('run_keys', undefined);

    invoke.mockResolvedValueOnce({ runs: [], params: [], metrics: [], max_points: 2000 });
    await api.compareRuns(['a', 'b'], 2000);
    // Tauri v2 hands `maxPoints` to the command's `max_points`.
    expect(invoke).toHaveBeenLastCalledWith('compare_runs', { ids: ['a', 'b'], maxPoints: 2000, metrics: [] });

    invoke.mockRejectedValueOnce({ code: 'query', message: 'cannot read the query at column 3: …' });
    await expect(api.searchRuns('a >', 200, 0)).rejects.toEqual({ code: 'query', message: 'cannot read the query at column 3: …' });
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

  it('calls the training and job commands', async () => {
    invoke.mockResolvedValueOnce({ models: [], devices: {} });
    await api.trainChoices();
    expect(invoke).toHaveBeenLastCalledWith('train_choices', undefined);

    const form = {
      dataset: 'penguins@1',
      target: 'species',
      model: 'logistic',
      seed: 42,
      name: null,
      params: { epochs: '30' },
      device: 'cpu',
    };
    invoke.mockResolvedValueOnce({ id: 'job-1', kind: 'train', state: 'running' });
    await expect(api.startTraining(form)).resolves.toMatchObject({ id: 'job-1', state: 'running' });
    expect(invoke).toHaveBeenLastCalledWith('start_training', { form });

    invoke.mockResolvedValueOnce([{ id: 'job-1' }]);
    await expect(api.listJobs()).resolves.toEqual([{ id: 'job-1' }]);
    expect(invoke).toHaveBeenLastCalledWith('list_jobs', undefined);

    invoke.mockResolvedValueOnce(true);
    await expect(api.cancelJob('job-1')).resolves.toBe(true);
    expect(invoke).toHaveBeenLastCalledWith('cancel_job', { id: 'job-1' });

    invoke.mockResolvedValueOnce({ id: 'abc' });
    await api.runPage('abc');
    expect(invoke).toHaveBeenLastCalledWith('run_page', { key: 'abc' });
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
