//! Thin async commands: convert, call `cairn-app` on a blocking thread, convert back.

use crate::AppState;
use cairn_app::Workspace;
use cairn_app::json::{AppError, DatasetSummary, RunSummary, WorkspaceInfo};

/// Opens the workspace, runs `f` on a blocking thread (DuckDB and tantivy block), and releases
/// the workspace again so the CLI can use it between calls.
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
    .map_err(|e| AppError {
        code: "internal".into(),
        message: format!("the background task failed: {e}"),
    })?
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
