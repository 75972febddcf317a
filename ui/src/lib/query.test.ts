import { describe, expect, it } from 'vitest';
import { Query } from './query.svelte';

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('Query', () => {
  it('keeps the answer of the latest run, not of a slower earlier one', async () => {
    const q = new Query<string>();
    const first = deferred<string>();
    const second = deferred<string>();
    const a = q.run(() => first.promise);
    const b = q.run(() => second.promise);
    expect(q.loading).toBe(true);
    second.resolve('page 2');
    await b;
    expect(q.data).toBe('page 2');
    expect(q.loading).toBe(false);
    first.resolve('page 1');
    await a;
    expect(q.data).toBe('page 2');
  });

  it('turns rejections into AppErrors and clears them on success', async () => {
    const q = new Query<number>();
    await q.run(() => Promise.reject({ code: 'not_found', message: 'no data set `x`' }));
    expect(q.error).toEqual({ code: 'not_found', message: 'no data set `x`' });
    expect(q.data).toBeNull();
    await q.run(() => Promise.resolve(3));
    expect(q.error).toBeNull();
    expect(q.data).toBe(3);
  });

  it('clear() drops the data and any answer still on its way', async () => {
    const q = new Query<number>();
    const late = deferred<number>();
    const run = q.run(() => late.promise);
    q.clear();
    late.resolve(1);
    await run;
    expect(q.data).toBeNull();
    expect(q.loading).toBe(false);
  });
});
