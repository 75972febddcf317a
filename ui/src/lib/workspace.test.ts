import { describe, expect, it, vi } from 'vitest';

// Each listRuns call is answered by hand, so the test decides when a load in flight finishes.
const pending: ((runs: unknown[]) => void)[] = [];
vi.mock('./api', () => ({
  isTauri: () => true,
  workspaceInfo: () => Promise.resolve({ path: '/w', schema_version: 1, datasets: 0, runs: 0 }),
  listDatasets: () => Promise.resolve([]),
  listRuns: () => new Promise((resolve) => pending.push(resolve)),
  toAppError: (e: unknown) => ({ code: 'internal', message: String(e) }),
}));

const { workspace } = await import('./workspace.svelte');

const settle = () => new Promise((r) => setTimeout(r, 0));

describe('workspace.refresh', () => {
  it('a refresh asked for during a load is not dropped: one more load follows with the newer answer', async () => {
    const first = workspace.refresh();
    await settle();
    expect(pending.length).toBe(1);
    // A job ends while the first load is in flight; that load may have read too early.
    const second = workspace.refresh();
    const third = workspace.refresh();
    await settle();
    expect(pending.length).toBe(1);
    pending[0]([{ id: 'old' }]);
    await settle();
    // Exactly one more load, however many refreshes were asked for meanwhile.
    expect(pending.length).toBe(2);
    expect(workspace.loading).toBe(true);
    pending[1]([{ id: 'old' }, { id: 'new' }]);
    await Promise.all([first, second, third]);
    expect(pending.length).toBe(2);
    expect(workspace.loading).toBe(false);
    expect(workspace.ready).toBe(true);
    expect(workspace.runs?.length).toBe(2);
  });
});
