// The Train view's training job (form, live charts, Cancel). The job itself runs in Rust and
// shows in the jobs panel with every other job; this keeps the launcher's view of the one it
// started, outside the components, so leaving the Train view and coming back keeps the live
// state, and the job outlives the view that started it. Other views do not wait for it: the
// workspace is taken in short turns, so they answer while it trains.
import { startTraining, toAppError } from './api';
import type { AppError, MetricPoint, RunSummary, TrainForm, TrainProgress } from './bindings';
import { jobs } from './jobs.svelte';
import { navigation } from './navigation.svelte';
import { appendEpoch } from './train-view';
import { workspace } from './workspace.svelte';

/** The live charts redraw at most this often while epochs stream in. */
const REDRAW_MS = 100;

class TrainingJob {
  running = $state(false);
  /** The job's id while it runs (and after, until the next start). */
  jobId = $state<string | null>(null);
  /** Cancel was pressed; the job stops at its next step. */
  cancelling = $state(false);
  /** What the current (or last) job was asked to do. */
  form = $state.raw<TrainForm | null>(null);
  epoch = $state(0);
  epochs = $state<number | null>(null);
  message = $state('');
  /** The epoch metrics so far, replaced (not mutated) on each redraw so charts follow. */
  history = $state.raw<Record<string, MetricPoint[]>>({});
  /** The recorded run once the job ended (finished or killed). */
  result = $state.raw<RunSummary | null>(null);
  error = $state.raw<AppError | null>(null);
  #history: Record<string, MetricPoint[]> = {};
  #timer: ReturnType<typeof setTimeout> | null = null;

  /**
   * Starts training and resolves with the recorded run when it ends (null on error, which is
   * kept in `error`). If the Train view is still showing then, the run page opens.
   */
  async start(form: TrainForm): Promise<RunSummary | null> {
    if (this.running) return null;
    this.#history = {};
    this.history = {};
    this.form = form;
    this.epoch = 0;
    this.epochs = null;
    this.message = '';
    this.result = null;
    this.error = null;
    this.cancelling = false;
    this.running = true;
    let run: RunSummary | null = null;
    try {
      const job = await startTraining(form);
      this.jobId = job.id;
      const ended = await jobs.follow(job, (step) => this.#onStep(step));
      if (ended.outcome?.kind === 'run') {
        run = ended.outcome.value;
        this.result = run;
      } else {
        this.error = ended.error ?? { code: 'internal', message: 'the training job ended without a run' };
      }
    } catch (error) {
      this.error = toAppError(error);
    } finally {
      this.#flush();
      this.running = false;
      this.cancelling = false;
    }
    void workspace.refresh();
    if (run && navigation.view === 'train') navigation.openRun(run.id);
    return run;
  }

  /** Asks the job to stop; it is then recorded as killed, with what it learnt so far. */
  async cancel(): Promise<void> {
    if (!this.running || this.cancelling || this.jobId === null) return;
    this.cancelling = true;
    await jobs.cancel(this.jobId);
  }

  #onStep(step: TrainProgress): void {
    if (step.total !== null) {
      this.epochs = step.total;
      this.epoch = step.done;
    }
    this.message = step.message;
    if (appendEpoch(this.#history, step.done, step.metrics) > 0 && this.#timer === null) {
      this.#timer = setTimeout(() => this.#flush(), REDRAW_MS);
    }
  }

  #flush(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.history = Object.fromEntries(Object.entries(this.#history).map(([k, v]) => [k, v.slice()]));
  }
}

export const training = new TrainingJob();

/** The launcher's choices, kept while the window is open so a view switch does not lose them. */
export const launcher = $state({
  /** Data set name; null means the first one listed. */
  dataset: null as string | null,
  /** Version of `dataset`; null means its latest. */
  version: null as number | null,
  target: null as string | null,
  model: 'logistic' as string,
  seed: '42',
  device: 'cpu',
  name: '',
  /** Param text typed by the user, by key (defaults are not stored). */
  edits: {} as Record<string, string>,
});
