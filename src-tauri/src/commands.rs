//! Thin async commands: convert, call `cairn-app` on a blocking thread, convert back.

use crate::AppState;
use cairn_app::json::{
    AppError, BundleExportForm, BundleInspection, DatasetDetail, DatasetSummary, RowPage,
    RunComparison, RunKeys, RunPage, RunSummary, SearchPage, TrainChoices, TrainForm,
    WorkspaceInfo,
};
use cairn_app::{JobInfo, JobKind, Workspace};

/// Runs `f` in one turn of the workspace on a blocking thread (DuckDB and tantivy block): the
/// turn waits its place in the queue behind other turns (a job's metric batch, the CLI), runs,
/// and releases the workspace.
async fn with_workspace<T, F>(state: &AppState, f: F) -> Result<T, AppError>
where
    T: Send + 'static,
    F: FnOnce(&mut Workspace) -> cairn_app::Result<T> + Send + 'static,
{
    let dir = state.dir.clone();
    tauri::async_runtime::spawn_blocking(move || {
        dir.turn("answering the desktop window", f)
            .map_err(|e| AppError::from(&e))
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

/// Starts training as a job and answers at once with it; its progress (every epoch, with the
/// epoch's metrics) and its outcome (the recorded run) arrive as job events.
#[tauri::command]
pub async fn start_training(
    state: tauri::State<'_, AppState>,
    form: TrainForm,
) -> Result<JobInfo, AppError> {
    let request = form.into_request().map_err(|e| AppError::from(&e))?;
    // The job's subject; the window names the kind in its own language.
    let title = format!("{} · {}", request.dataset, request.model);
    let dir = state.dir.clone();
    Ok(state.jobs.spawn(JobKind::Train, title, move |job| {
        job.workspace(&dir).train(&request, job)
    }))
}

/// Every job of this window, oldest first.
#[tauri::command]
pub async fn list_jobs(state: tauri::State<'_, AppState>) -> Result<Vec<JobInfo>, AppError> {
    Ok(state.jobs.list())
}

/// Asks a job to stop at its next step (a training run is then recorded as killed); false when
/// no such job runs.
#[tauri::command]
pub async fn cancel_job(state: tauri::State<'_, AppState>, id: String) -> Result<bool, AppError> {
    Ok(state.jobs.cancel(&id))
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

/// Starts writing a finished run's bundle as a job and answers at once with it; its stages and
/// its outcome arrive as job events. The workspace is held only while the run is read.
#[tauri::command]
pub async fn export_bundle(
    state: tauri::State<'_, AppState>,
    form: BundleExportForm,
) -> Result<JobInfo, AppError> {
    let dir = state.dir.clone();
    let title = form.run.clone();
    Ok(state.jobs.spawn(JobKind::BundleExport, title, move |job| {
        let out = std::path::PathBuf::from(form.out.trim());
        job.workspace(&dir)
            .export_bundle(&form.run, &out, &form.options(), job)
    }))
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

/// Starts importing a bundle (as `cairn bundle import`) as a job: the file is verified and
/// checked, with `trust` keys when given, before the workspace is touched; then one turn
/// recreates the run, its model files and its data version (from the snapshot, when the
/// bundle has one). The outcome (`ImportSummary`) arrives as a job event.
#[tauri::command]
pub async fn import_bundle(
    state: tauri::State<'_, AppState>,
    path: String,
    trust: Vec<String>,
) -> Result<JobInfo, AppError> {
    let keys: Vec<std::path::PathBuf> = trust
        .iter()
        .map(|k| k.trim())
        .filter(|k| !k.is_empty())
        .map(std::path::PathBuf::from)
        .collect();
    let path = std::path::PathBuf::from(path.trim());
    let dir = state.dir.clone();
    let title = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(state.jobs.spawn(JobKind::BundleImport, title, move |job| {
        let bundle = cairn_app::read_bundle(&path, &keys)?;
        job.workspace(&dir)
            .turn(&format!("importing {}", path.display()), |ws| {
                ws.import_verified_bundle(bundle)
            })
    }))
}

// ---- registry and audit (docs/registry.md, docs/formats/audit-log.md) ----------------------

/// Every registered model: versions, latest, aliases.
#[tauri::command]
pub async fn list_models(
    state: tauri::State<'_, AppState>,
) -> Result<Vec<cairn_app::ModelSummary>, AppError> {
    with_workspace(&state, |ws| ws.registered_models()).await
}

/// One model: every version (test metrics, aliases), the policy in force, and every alias move.
#[tauri::command]
pub async fn model_detail(
    state: tauri::State<'_, AppState>,
    name: String,
) -> Result<cairn_app::ModelPage, AppError> {
    with_workspace(&state, move |ws| ws.model_page(&name)).await
}

/// One version (`NAME@N`, `NAME@alias`): signature, gate reports, approvals, alias moves.
#[tauri::command]
pub async fn model_version(
    state: tauri::State<'_, AppState>,
    reference: String,
) -> Result<cairn_app::VersionEvidence, AppError> {
    with_workspace(&state, move |ws| ws.version_evidence(&reference)).await
}

/// Moves `alias` to `reference`'s version through the gates (as `cairn registry promote`);
/// with `dry_run`, only evaluates them: nothing is stored and nothing moves. A refusal is an
/// error with code `gate_failed` naming each failing check.
#[tauri::command]
pub async fn promote_model(
    state: tauri::State<'_, AppState>,
    reference: String,
    alias: String,
    force: bool,
    reason: Option<String>,
    key: Option<String>,
    dry_run: bool,
) -> Result<cairn_app::PromotionOutcome, AppError> {
    let opts = cairn_app::PromoteOptions {
        force,
        reason: reason.filter(|r| !r.trim().is_empty()),
        key: key
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty())
            .map(std::path::PathBuf::from),
        dry_run,
    };
    with_workspace(&state, move |ws| {
        ws.promote(&reference, alias.trim(), &opts)
    })
    .await
}

/// Signs an approval of moving `alias` to `reference`'s version with a secret key file.
#[tauri::command]
pub async fn approve_model(
    state: tauri::State<'_, AppState>,
    reference: String,
    alias: String,
    key: String,
    comment: String,
) -> Result<cairn_app::ApprovalOutcome, AppError> {
    with_workspace(&state, move |ws| {
        ws.approve(
            &reference,
            alias.trim(),
            std::path::Path::new(key.trim()),
            comment.trim(),
        )
    })
    .await
}

/// Audit entries from `since` about `subject` (and what is under it), the newest `limit`,
/// oldest first.
#[tauri::command]
pub async fn audit_log(
    state: tauri::State<'_, AppState>,
    since: Option<String>,
    subject: Option<String>,
    limit: u32,
) -> Result<Vec<cairn_app::AuditEntry>, AppError> {
    let blank_is_none =
        |s: Option<String>| s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let (since, subject) = (blank_is_none(since), blank_is_none(subject));
    with_workspace(&state, move |ws| {
        ws.audit_log(since.as_deref(), subject.as_deref(), limit as usize)
    })
    .await
}

/// Verifies the audit chain and every signed checkpoint (as `cairn audit verify`).
#[tauri::command]
pub async fn audit_verify(
    state: tauri::State<'_, AppState>,
) -> Result<cairn_app::AuditReport, AppError> {
    with_workspace(&state, |ws| ws.audit_verify()).await
}
