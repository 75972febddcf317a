// Which view the window shows, which data set and version the Data view has open, and which run
// the run page shows. Kept outside the components so the overview can open a data set or a run
// and a view switch keeps the choice.

export type ViewId = 'overview' | 'data' | 'train' | 'runs' | 'bundles' | 'models' | 'audit';
export const DATA_TABS = ['versions', 'rows', 'profile', 'quality', 'diff'] as const;
export type DataTab = (typeof DATA_TABS)[number];
/** What the Runs view shows: the table of runs, one run's page, or runs compared. */
export type RunsMode = 'table' | 'run' | 'compare';

class Navigation {
  view = $state<ViewId>('overview');
  /** The data set the Data view shows; null means the first one listed. */
  dataset = $state<string | null>(null);
  /** The version of `dataset` the tabs show; null means its latest. */
  version = $state<number | null>(null);
  tab = $state<DataTab>('versions');
  /** The run the run page (the Runs view) shows, by id; null means the newest. */
  run = $state<string | null>(null);
  runsMode = $state<RunsMode>('table');
  /** The runs the Compare view shows, by id, in the order picked. */
  compareIds = $state.raw<string[]>([]);
  /** The bundle file the Bundles view opens (set by the export dialog); null: none yet. */
  bundlePath = $state<string | null>(null);
  /** The registered model the Models view shows; null: the table of models. */
  model = $state<string | null>(null);
  /** The version of `model` shown on its version page; null: the model page. */
  modelVersion = $state<number | null>(null);
  /** The subject the Audit view filters on when opened from a page (`model:iris`); null: none. */
  auditSubject = $state<string | null>(null);

  show(view: ViewId): void {
    this.view = view;
    // The sidebar's Runs entry leads to the table of runs.
    if (view === 'runs') this.runsMode = 'table';
    // The sidebar's Models entry leads to the table of models.
    if (view === 'models') {
      this.model = null;
      this.modelVersion = null;
    }
  }

  /** Opens a registered model's page, or one of its versions. */
  openModel(name: string, version: number | null = null): void {
    this.model = name;
    this.modelVersion = version;
    this.view = 'models';
  }

  /** Opens the Audit view filtered on `subject`. */
  openAudit(subject: string): void {
    this.auditSubject = subject;
    this.view = 'audit';
  }

  /** Opens the Compare view of `ids`. */
  compare(ids: string[]): void {
    this.compareIds = ids;
    this.runsMode = 'compare';
    this.view = 'runs';
  }

  /** Opens a data set (at a version, else its latest) in the Data view. */
  openDataset(name: string, version: number | null = null, tab?: DataTab): void {
    if (name !== this.dataset) this.version = null;
    this.dataset = name;
    if (version !== null) this.version = version;
    if (tab) this.tab = tab;
    this.view = 'data';
  }

  /** Opens a bundle file in the Bundles view. */
  openBundle(path: string): void {
    this.bundlePath = path;
    this.view = 'bundles';
  }

  /** Opens a run (by id) on the run page. */
  openRun(id: string): void {
    this.run = id;
    this.runsMode = 'run';
    this.view = 'runs';
  }
}

export const navigation = new Navigation();
