// The window's jobs: training runs, bundle exports and imports, and the jobs of later views
// (sweeps, servers, pipelines). Rust sends every change of a job as a `cairn://job` event; this
// store keeps the latest state of each (for the jobs panel) and hands each job's steps to
// whoever follows it (the Train view's live charts, the export dialog's progress bar).
import { listen } from '@tauri-apps/api/event';
import { cancelJob, isTauri, listJobs, toAppError } from './api';
import type { AppError, JobInfo, TrainProgress } from './bindings';

/** The event name `src-tauri` emits (`JOB_EVENT`). */
export const JOB_EVENT = 'cairn://job';

export const isEnded = (job: JobInfo): boolean => job.state !== 'running';

/** The share of a job done, 0..1, or null when its total is unknown. */
export function jobShare(job: JobInfo): number | null {
  const p = job.progress;
  if (!p || p.total === null || p.total <= 0) return null;
  return Math.min(1, p.done / p.total);
}

type Follower = { onStep?: (step: TrainProgress) => void; resolve: (job: JobInfo) => void };

class JobsStore {
  /** Every job, oldest first. */
  list = $state.raw<JobInfo[]>([]);
  /** Whether the jobs panel is open. */
  open = $state(false);
  running = $derived(this.list.filter((j) => !isEnded(j)));
  error = $state.raw<AppError | null>(null);
  #followers = new Map<string, Follower[]>();
  /** Steps with metrics (epochs) of jobs nobody follows yet: a job can report before the
   * command that started it has answered. */
  #early = new Map<string, TrainProgress[]>();
  #started = false;

  /** Listens for job events and loads the jobs already there (once per window). */
  async init(): Promise<void> {
    if (this.#started || !isTauri()) return;
    this.#started = true;
    await listen<JobInfo>(JOB_EVENT, (event) => this.apply(event.payload));
    try {
      for (const job of await listJobs()) this.apply(job);
    } catch (error) {
      this.error = toAppError(error);
    }
  }

  /** Takes in a job's new state (from an event, or a command's answer). */
  /** Called once when a job ends (the workspace it changed is then read again). */
  onEnded: ((job: JobInfo) => void) | null = null;

  apply(job: JobInfo): void {
    const at = this.list.findIndex((j) => j.id === job.id);
    const ended = isEnded(job) && (at < 0 || !isEnded(this.list[at]));
    if (at >= 0) {
      // An answer can arrive after a newer event: never go back from an ended job.
      if (isEnded(this.list[at]) && !isEnded(job)) return;
      const next = this.list.slice();
      next[at] = job;
      this.list = next;
    } else {
      this.list = [...this.list, job];
    }
    if (ended) this.onEnded?.(job);
    const followers = this.#followers.get(job.id);
    if (job.progress && Object.keys(job.progress.metrics).length > 0) {
      if (followers) for (const f of followers) f.onStep?.(job.progress);
      else {
        const early = this.#early.get(job.id) ?? [];
        early.push(job.progress);
        this.#early.set(job.id, early);
      }
    } else if (job.progress && followers) {
      for (const f of followers) f.onStep?.(job.progress);
    }
    if (isEnded(job)) {
      this.#early.delete(job.id);
      if (followers) {
        this.#followers.delete(job.id);
        for (const f of followers) f.resolve(job);
      }
    }
  }

  get(id: string): JobInfo | undefined {
    return this.list.find((j) => j.id === id);
  }

  /**
   * Follows a job just started: `onStep` gets each of its steps (those it reported before this
   * call first), and the promise resolves with the job when it ends.
   */
  follow(started: JobInfo, onStep?: (step: TrainProgress) => void): Promise<JobInfo> {
    this.apply(started);
    const current = this.get(started.id) ?? started;
    const early = this.#early.get(started.id) ?? [];
    for (const step of early) onStep?.(step);
    this.#early.delete(started.id);
    // A stage reported before this call (one without values, so not kept above).
    if (current.progress && Object.keys(current.progress.metrics).length === 0) onStep?.(current.progress);
    if (isEnded(current)) return Promise.resolve(current);
    return new Promise((resolve) => {
      const list = this.#followers.get(started.id) ?? [];
      list.push({ onStep, resolve });
      this.#followers.set(started.id, list);
    });
  }

  async cancel(id: string): Promise<void> {
    try {
      await cancelJob(id);
    } catch (error) {
      this.error = toAppError(error);
    }
  }
}

export const jobs = new JobsStore();

type Outcome = NonNullable<JobInfo['outcome']>;
type OutcomeValue<K extends Outcome['kind']> = Extract<Outcome, { kind: K }>['value'];

/** A job's outcome of `kind`, or throws its error (a failed or cancelled job). */
export function outcomeOf<K extends Outcome['kind']>(job: JobInfo, kind: K): OutcomeValue<K> {
  const outcome = job.outcome;
  if (outcome && outcome.kind === kind) {
    return outcome.value as OutcomeValue<K>;
  }
  throw job.error ?? { code: 'internal', message: `the job ended without a ${kind}` };
}
