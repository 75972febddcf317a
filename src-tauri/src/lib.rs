//! The Cairn desktop app: the only crate that knows Tauri.
//!
//! Commands are thin: they take a turn of the workspace on a blocking thread (or start a job),
//! call `cairn-app`, and hand back its DTOs (or its error as `{code, message}`). No business
//! logic lives here.

mod commands;

use cairn_app::{Jobs, WorkspaceDir};
use std::path::PathBuf;
use tauri::{Builder, Emitter, Manager, Runtime};

/// The event every change of a job is sent as (payload: `JobInfo`).
pub const JOB_EVENT: &str = "cairn://job";

/// The workspace this window shows, and its jobs.
///
/// Every command takes its own turn of the workspace (`WorkspaceDir::turn`) and releases it,
/// and jobs take short turns too, so nothing holds the workspace for the length of a job: the
/// views answer while training runs, several jobs run at once, and the CLI works beside the
/// window.
pub struct AppState {
    pub dir: WorkspaceDir,
    pub jobs: Jobs,
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
        .setup(move |app| {
            let handle = app.handle().clone();
            let jobs = Jobs::with_listener(move |info| {
                // A window that went away stops listening; the job goes on all the same.
                let _ = handle.emit(JOB_EVENT, info);
            });
            app.manage(AppState {
                dir: WorkspaceDir::new(root.clone()),
                jobs,
            });
            Ok(())
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
            commands::list_jobs,
            commands::cancel_job,
            commands::run_page,
            commands::search_runs,
            commands::run_keys,
            commands::compare_runs,
            commands::export_bundle,
            commands::inspect_bundle,
            commands::import_bundle,
            commands::list_models,
            commands::model_detail,
            commands::model_version,
            commands::promote_model,
            commands::approve_model,
            commands::audit_log,
            commands::audit_verify
        ])
}

pub fn run() {
    build_app(Builder::default(), workspace_root())
        .run(tauri::generate_context!())
        .expect("error while running the Cairn desktop app");
}
