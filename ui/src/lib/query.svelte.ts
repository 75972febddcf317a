// One asynchronous load whose answer the UI shows: the latest call wins, so a slow answer
// to an earlier request (a page the user already left) never replaces a newer one.
import { toAppError } from './api';
import type { AppError } from './bindings';

export class Query<T> {
  data = $state.raw<T | null>(null);
  error = $state.raw<AppError | null>(null);
  loading = $state(false);
  #latest = 0;

  /** Starts `load`; its result is kept only if no later `run` or `clear` happened meanwhile. */
  async run(load: () => Promise<T>): Promise<void> {
    const ticket = ++this.#latest;
    this.loading = true;
    try {
      const value = await load();
      if (ticket === this.#latest) {
        this.data = value;
        this.error = null;
      }
    } catch (error) {
      if (ticket === this.#latest) this.error = toAppError(error);
    } finally {
      if (ticket === this.#latest) this.loading = false;
    }
  }

  /** Forgets the data and any answer still on its way. */
  clear(): void {
    this.#latest++;
    this.data = null;
    this.error = null;
    this.loading = false;
  }
}
