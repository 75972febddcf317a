//! The one API boundary of Cairn: a [`Workspace`] handle and the use cases the CLI and the
//! desktop app both call — import, train, record runs from outside (`log`), list, search,
//! bundle, demo.
//!
//! This is the only crate that wires the engines (`cairn-store`, `cairn-train`, `cairn-search`,
//! `cairn-bundle`) together. It must not know clap, Tauri, terminals or windows: it reports
//! progress through [`cairn_core::ProgressObserver`] and errors as [`AppError`] with a stable code.

mod artifacts;
mod audit;
mod bundle;
mod compare;
mod data;
mod demo;
mod environment;
mod error;
mod failpoint;
mod jobs;
pub mod json;
mod keys;
mod lineage;
mod loadtest;
mod lock;
mod log;
mod log_stream;
mod mlflow;
mod model_search;
mod predict;
mod process;
mod registry;
mod registry_view;
mod search;
mod serving;
mod sysmetrics;
mod train;
mod validation;
mod workspace;

pub use audit::{AuditReport, CheckpointStatus, os_user};
pub use bundle::{
    BundleContents, BundleSummary, ExportOptions, ImportSummary, MetricCheck, ReproduceReport,
    TensorCheck, VerifiedBundle, inspect_bundle, read_bundle, reproduce_bundle, verify_bundle,
    verify_bundle_trusted,
};
pub use cairn_bundle::{Problem, SignatureStatus, VerifyReport};
pub use cairn_core::audit::AuditEntry;
pub use cairn_core::diff::DatasetDiff;
pub use cairn_core::profile::DatasetProfile;
pub use cairn_core::quality::QualityReport;
pub use cairn_core::query;
pub use cairn_core::registry::{Approval, GateCheck, GatePolicy, GateReport};
pub use cairn_core::split::SplitSpec;
pub use cairn_core::{ColumnOverride, DataType, FileFormat, ImportOptions, TextEncoding};
pub use cairn_core::{
    DatasetVersion, ParamValue, Progress, ProgressObserver, Run, RunStatus, Step, parse_key_value,
};
pub use cairn_serve::loadtest::{LoadReport, Percentiles as LoadPercentiles};
pub use cairn_serve::{ExtraPolicy, Policy as ServePolicy, RangePolicy};
pub use cairn_store::AliasMove;
pub use cairn_store::{ImportOutcome, Page};
pub use cairn_store::{RequestFilter, RequestRow};
pub use cairn_train::devices::{DeviceReport, discover as discover_devices};
pub use cairn_train::{DeviceChoice, ModelKind, params_for};
pub use compare::{CompareOptions, HISTORY_FORMAT_VERSION, HistoryFormat};
pub use demo::DemoSummary;
pub use error::{AppError, ErrorCode};
pub use failpoint::FAILPOINT_VAR;
pub use jobs::{JobContext, JobInfo, JobKind, JobListener, JobOutcome, JobState, Jobs};
pub use keys::{KeyPairSummary, new_key_pair, read_public_key, read_secret_key};
pub use lineage::{LineageEdge, LineageGraph, LineageNode};
pub use loadtest::{LoadTestOptions, LoadTestOutcome, PhaseShare};
pub use lock::{LockHolder, NOTICE_AFTER, WaitNotice};
pub use log::{LogOptions, LogSession, OnLanded, RunLogger, RunOutcome, RunStart};
pub use log_stream::{LineError, LogEvent, LogStream, MAX_LINE_BYTES, parse_line};
pub use mlflow::{KeyRename, MlflowExport, MlflowExportSummary};
pub use model_search::{DatasetHit, ModelHit};
pub use predict::{PredictSummary, RecordPrediction};
pub use registry::{
    AliasAt, AliasHistory, AliasPointer, ApprovalOutcome, ModelSummary, ModelVersionRecord,
    ModelVersionView, PromoteOptions, PromotionOutcome, RegisterOptions,
};
pub use registry_view::{AliasMoveView, ModelPage, StoredGateReport, VersionEvidence};
pub use search::{ATTRIBUTES, DATASET_KEYS, SearchOutcome, parse_query};
pub use serving::{
    RecentRequest, ServeEvent, ServeOptions, ServeStatus, ServedArm, ServedName, Serving,
};
pub use sysmetrics::{SystemSample, SystemSampler};
pub use train::{RunEvaluation, TrainRequest};
pub use validation::{CaseOutcome, ValidationCase};
pub use workspace::{
    DEFAULT_TURN_TIMEOUT, RunDetail, Workspace, WorkspaceDir, default_workspace_dir,
};

pub type Result<T, E = AppError> = std::result::Result<T, E>;

/// This build's version, recorded in runs and bundles.
pub const CAIRN_VERSION: &str = env!("CARGO_PKG_VERSION");
