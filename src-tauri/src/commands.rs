//! Thin async commands: convert, call `cairn-app` on a blocking thread, convert back.

use crate::AppState;
use cairn_app::Workspace;
use cairn_app::json::{
    AppError, BundleExportForm, BundleExported, BundleInspection, DatasetDetail, DatasetSummary,
    RowPage, RunComparison, RunKeys, RunPage, RunSummary, SearchPage, TrainChoices, TrainForm,
    TrainProgress, WorkspaceInfo,
};
use tauri::ipc::Channel;

/// Opens the workspace, runs `f` on a blocking thread (DuckDB and tantivy block), and releases
/// the workspace again so the CLI can use it between calls. Calls take turns: one waits while
/// another (a training job, for as long as it trains) holds the workspace.
async fn with_workspace<T, F>(state: &AppState, f: F) -> Result<T, AppError>
where
    T: Send + 'static,
    F: FnOnce(&mut Workspace) -> cairn_app::Result<T> + Send + 'static,
{
    let (root, turn) = (state.root.clone(), state.turn.clone());
    tauri::async_runtime::spawn_blocking(move || {
        let _turn = turn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut ws = Workspace::open(&root).map_err(|e| AppError::from(&e))?;
        f(&mut ws).map_err(|e| AppError::from(&e))
    })
    .await
    .map_err(background_failed)?
}

fn background_failed(e: tauri::Error) -> AppError {
    AppError {
        code: "internal".into(),
        message: format!("the background task failed: {e}"),
    }
}

#[tauri::command]
pub async fn workspace_info(state: tauri::State<'_, AppState>) -> Result<WorkspaceInfo, AppError> {
    with_workspace(&state, |ws| ws.info()).await
}

#[tauri::command]
pub async fn list_datasets(
    state: tauri::State<'_, AppState>,
) -> Result<Vec<DatasetSummary>, AppError> {
    with_workspace(&state, |ws| ws.datasets()).await
}

#[tauri::command]
pub async fn list_runs(state: tauri::State<'_, AppState>) -> Result<Vec<RunSummary>, AppError> {
    with_workspace(&state, |ws| ws.run_summaries()).await
}

/// Serialises a value whose type `cairn-app` hands back without re-exporting it (profiles,
/// quality reports, diffs live in `cairn-core`); the UI types it from `bindings.ts`.
fn to_json<T: serde::Serialize>(value: T) -> cairn_app::Result<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| {
        cairn_app::AppError::new(
            cairn_app::ErrorCode::Internal,
            format!("could not encode the answer for the window: {e}"),
        )
    })
}

/// One data set: its live versions (oldest first) and the lineage edges that touch it.
#[tauri::command]
pub async fn dataset_detail(
    state: tauri::State<'_, AppState>,
    name: String,
) -> Result<DatasetDetail, AppError> {
    with_workspace(&state, move |ws| ws.dataset_detail(&name)).await
}

/// Rows `offset .. offset + limit` of a version (`name`, `name@3`, `name@latest`), as text.
/// A range scan on the row number: as fast at row 5,000,000 as at row 0.
#[tauri::command]
pub async fn dataset_page(
    state: tauri::State<'_, AppState>,
    reference: String,
    offset: u64,
    limit: u64,
) -> Result<RowPage, AppError> {
    with_workspace(&state, move |ws| {
        ws.dataset_page(&reference, offset, limit)
            .map(RowPage::from)
    })
    .await
}

/// `[DatasetVersion, DatasetProfile]`: the resolved version and the profile stored with it.
#[tauri::command]
pub async fn dataset_profile(
    state: tauri::State<'_, AppState>,
    reference: String,
) -> Result<serde_json::Value, AppError> {
    with_workspace(&state, move |ws| to_json(ws.dataset_profile(&reference)?)).await
}

/// `QualityReport | null`: the last `cairn data check` of a version.
#[tauri::command]
pub async fn last_quality_report(
    state: tauri::State<'_, AppState>,
    reference: String,
) -> Result<serde_json::Value, AppError> {
    with_workspace(&state, move |ws| {
        to_json(ws.last_quality_report(&reference)?)
    })
    .await
}

/// `DatasetDiff` from `from` to `to`, rows matched on `key` when given, else by content.
#[tauri::command]
pub async fn diff_datasets(
    state: tauri::State<'_, AppState>,
    from: String,
    to: String,
    key: Option<String>,
) -> Result<serde_json::Value, AppError> {
    with_workspace(&state, move |ws| {
        to_json(ws.diff_datasets(&from, &to, key.as_deref())?)
    })
    .await
}

/// Every model's hyperparameters with their defaults, and the devices this build can train on.
#[tauri::command]
pub async fn train_choices() -> Result<TrainChoices, AppError> {
    // Device discovery loads the CUDA driver library where there is one: not on the UI thread.
    tauri::async_runtime::spawn_blocking(|| TrainChoices::new(cairn_app::discover_devices()))
        .await
        .map_err(background_failed)
}

/// Trains a model as the window's one job and answers with the recorded run when it ends
/// (finished, or killed by `cancel_training`). Each step goes to `on_progress` as it happens.
#[tauri::command]
pub async fn start_training(
    state: tauri::State<'_, AppState>,
    form: TrainForm,
    on_progress: Channel<TrainProgress>,
) -> Result<RunSummary, AppError> {
    let claim = state.training.claim_or_busy()?;
    let request = form.into_request().map_err(|e| AppError::from(&e))?;
    with_workspace(&state, move |ws| {
        // A window that went away stops receiving; the run is recorded all the same.
        let mut observer = claim.observer(|step| {
            let _ = on_progress.send(step);
        });
        ws.train(&request, &mut observer).map(RunSummary::from)
    })
    .await
}

/// Asks the running training job to stop after its current step; false when none runs.
#[tauri::command]
pub async fn cancel_training(state: tauri::State<'_, AppState>) -> Result<bool, AppError> {
    Ok(state.training.cancel())
}

/// One run with its metric history, artifacts, and held-out evaluation (confusion matrix and
/// per-class scores, or test predictions for a residual plot).
#[tauri::command]
pub async fn run_page(state: tauri::State<'_, AppState>, key: String) -> Result<RunPage, AppError> {
    with_workspace(&state, move |ws| {
        Ok(RunPage::new(ws.run(&key)?, ws.run_evaluation(&key)?))
    })
    .await
}

/// Runs matching `query` (docs/query-language.md; empty = every run, newest first), the page
/// `offset .. offset + limit`. A query that does not parse is an error with code `query` whose
/// message names the column.
#[tauri::command]
pub async fn search_runs(
    state: tauri::State<'_, AppState>,
    query: String,
    limit: u32,
    offset: u64,
) -> Result<SearchPage, AppError> {
    with_workspace(&state, move |ws| {
        ws.search_runs(&query, limit as usize, offset as usize)
    })
    .await
}

/// The metric, param, tag, attribute and data set names a query can use.
#[tauri::command]
pub async fn run_keys(state: tauri::State<'_, AppState>) -> Result<RunKeys, AppError> {
    with_workspace(&state, |ws| ws.run_keys()).await
}

/// Runs side by side: params (with what differs), final metrics, and each metric's history
/// thinned by LTTB in Rust to at most `max_points` points; `metrics` empty = all of them.
#[tauri::command]
pub async fn compare_runs(
    state: tauri::State<'_, AppState>,
    ids: Vec<String>,
    max_points: u32,
    metrics: Vec<String>,
) -> Result<RunComparison, AppError> {
    let options = cairn_app::CompareOptions {
        max_points: max_points as usize,
        metrics,
    };
    with_workspace(&state, move |ws| ws.compare_runs(&ids, &options)).await
}

/// Writes a finished run's bundle as the window's one job (cancelled like training, by
/// `cancel_training`), streaming each stage to `on_progress`.
#[tauri::command]
pub async fn export_bundle(
    state: tauri::State<'_, AppState>,
    form: BundleExportForm,
    on_progress: Channel<TrainProgress>,
) -> Result<BundleExported, AppError> {
    let claim = state.training.claim_or_busy()?;
    with_workspace(&state, move |ws| {
        let mut observer = claim.observer(|step| {
            let _ = on_progress.send(step);
        });
        let out = std::path::PathBuf::from(form.out.trim());
        ws.export_bundle_with(&form.run, &out, &form.options(), &mut observer)
            .map(BundleExported::from)
    })
    .await
}

/// Verifies a bundle file (with `trust`: public key files, as `cairn bundle verify --trust`)
/// and reads its manifest, signature and lineage. Needs no workspace.
#[tauri::command]
pub async fn inspect_bundle(
    path: String,
    trust: Vec<String>,
) -> Result<BundleInspection, AppError> {
    tauri::async_runtime::spawn_blocking(move || {
        let keys: Vec<std::path::PathBuf> = trust
            .iter()
            .map(|k| k.trim())
            .filter(|k| !k.is_empty())
            .map(std::path::PathBuf::from)
            .collect();
        cairn_app::inspect_bundle(std::path::Path::new(path.trim()), &keys)
            .map(|b| BundleInspection::new(&b, !keys.is_empty()))
            .map_err(|e| AppError::from(&e))
    })
    .await
    .map_err(background_failed)?
}

/// Imports a bundle into the workspace (as `cairn bundle import`): verified and checked, with
/// `trust` keys when given, before the workspace is opened; recreates the run, its model files
/// and its data version (from the snapshot, when the bundle has one).
#[tauri::command]
pub async fn import_bundle(
    state: tauri::State<'_, AppState>,
    path: String,
    trust: Vec<String>,
) -> Result<cairn_app::ImportSummary, AppError> {
    let keys: Vec<std::path::PathBuf> = trust
        .iter()
        .map(|k| k.trim())
        .filter(|k| !k.is_empty())
        .map(std::path::PathBuf::from)
        .collect();
    let path = std::path::PathBuf::from(path.trim());
    let bundle = tauri::async_runtime::spawn_blocking(move || {
        cairn_app::read_bundle(&path, &keys).map_err(|e| AppError::from(&e))
    })
    .await
    .map_err(background_failed)??;
    with_workspace(&state, move |ws| ws.import_verified_bundle(bundle)).await
}
