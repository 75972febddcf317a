//! The Cairn desktop app: the only crate that knows Tauri.
//!
//! Commands are thin: they open the workspace on a blocking thread, call `cairn-app`, and hand
//! back its JSON DTOs (or its error as `{code, message}`). No business logic lives here.

mod commands;
mod training;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tauri::{Builder, Runtime};

/// The workspace this window shows. Commands open it one at a time (the workspace lock is
/// per open file, so two opens in one process would refuse each other) and release it after
/// each call, so the CLI can use the workspace between clicks.
pub struct AppState {
    pub root: PathBuf,
    pub(crate) turn: Arc<Mutex<()>>,
    /// The training job in progress, if any (one at a time; see `training.rs`).
    pub(crate) training: Arc<training::TrainingSlot>,
}

/// `--workspace DIR`, else `CAIRN_WORKSPACE`, else the platform default — as in the CLI.
fn workspace_root() -> PathBuf {
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--workspace" {
            if let Some(dir) = args.next() {
                return PathBuf::from(dir);
            }
        } else if let Some(dir) = a.strip_prefix("--workspace=") {
            return PathBuf::from(dir);
        }
    }
    if let Some(dir) = std::env::var_os("CAIRN_WORKSPACE") {
        return PathBuf::from(dir);
    }
    cairn_app::default_workspace_dir().unwrap_or_else(|_| PathBuf::from("cairn-workspace"))
}

/// Builds the app on any runtime, so tests can use Tauri's mock runtime.
pub fn build_app<R: Runtime>(builder: Builder<R>, root: PathBuf) -> Builder<R> {
    builder
        .manage(AppState {
            root,
            turn: Arc::new(Mutex::new(())),
            training: Arc::default(),
        })
        .invoke_handler(tauri::generate_handler![
            commands::workspace_info,
            commands::list_datasets,
            commands::list_runs,
            commands::dataset_detail,
            commands::dataset_page,
            commands::dataset_profile,
            commands::last_quality_report,
            commands::diff_datasets,
            commands::train_choices,
            commands::start_training,
            commands::cancel_training,
            commands::run_page,
            commands::search_runs,
            commands::run_keys,
            commands::compare_runs,
            commands::export_bundle,
            commands::inspect_bundle,
            commands::import_bundle
        ])
}

pub fn run() {
    build_app(Builder::default(), workspace_root())
        .run(tauri::generate_context!())
        .expect("error while running the Cairn desktop app");
}
