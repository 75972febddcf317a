use cairn_bundle::BundleError;
use cairn_search::SearchError;
use cairn_store::StoreError;
use cairn_train::TrainError;
use serde::Serialize;

/// Stable error codes: the UI and scripts switch on these, never on message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    WorkspaceLocked,
    NotAWorkspace,
    ImportFailed,
    NotFound,
    InvalidInput,
    /// A search query that does not parse or cannot mean anything; the message names the column.
    Query,
    TrainingFailed,
    BundleInvalid,
    Io,
    Cancelled,
    InUse,
    /// A promotion refused by its gates; the message names each failing check.
    GateFailed,
    /// The audit log does not verify; the message names the first bad entry.
    AuditBroken,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::WorkspaceLocked => "workspace_locked",
            ErrorCode::NotAWorkspace => "not_a_workspace",
            ErrorCode::ImportFailed => "import_failed",
            ErrorCode::NotFound => "not_found",
            ErrorCode::InvalidInput => "invalid_input",
            ErrorCode::Query => "query",
            ErrorCode::TrainingFailed => "training_failed",
            ErrorCode::BundleInvalid => "bundle_invalid",
            ErrorCode::Io => "io",
            ErrorCode::Cancelled => "cancelled",
            ErrorCode::InUse => "in_use",
            ErrorCode::GateFailed => "gate_failed",
            ErrorCode::AuditBroken => "audit_broken",
            ErrorCode::Internal => "internal",
        }
    }
}

/// An error that reaches a person: a stable code and a message that says what was wrong,
/// where, and what to do.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct AppError {
    pub code: ErrorCode,
    pub message: String,
}

impl AppError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        AppError {
            code,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidInput, message)
    }

    pub fn io(what: impl std::fmt::Display, err: std::io::Error) -> Self {
        Self::new(ErrorCode::Io, format!("{what}: {err}"))
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        let code = match &e {
            StoreError::Import(_) => ErrorCode::ImportFailed,
            StoreError::NotFound { .. } => ErrorCode::NotFound,
            StoreError::Invalid(_) => ErrorCode::InvalidInput,
            StoreError::TooNew { .. } => ErrorCode::NotAWorkspace,
            StoreError::Db { .. } => ErrorCode::Internal,
            StoreError::Cancelled => ErrorCode::Cancelled,
            StoreError::InUse(_) => ErrorCode::InUse,
        };
        AppError::new(code, e.to_string())
    }
}

impl From<TrainError> for AppError {
    fn from(e: TrainError) -> Self {
        let code = match &e {
            TrainError::Column { .. } | TrainError::Invalid(_) => ErrorCode::InvalidInput,
            TrainError::Candle(_) | TrainError::Safetensors(_) => ErrorCode::TrainingFailed,
        };
        AppError::new(code, e.to_string())
    }
}

impl From<SearchError> for AppError {
    fn from(e: SearchError) -> Self {
        let code = match &e {
            SearchError::Query(_) => ErrorCode::Query,
            _ => ErrorCode::Internal,
        };
        AppError::new(code, e.to_string())
    }
}

impl From<BundleError> for AppError {
    fn from(e: BundleError) -> Self {
        let code = match &e {
            BundleError::Write(_) => ErrorCode::Io,
            _ => ErrorCode::BundleInvalid,
        };
        AppError::new(code, e.to_string())
    }
}
