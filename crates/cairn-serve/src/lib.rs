//! The local inference server and the load tester (docs/serving.md).
//!
//! - [`server`]: a real HTTP/1.1 server (hyper, routed by axum) on 127.0.0.1 speaking KServe v2 /
//!   the Open Inference Protocol ([`kserve`], with Triton's binary tensor extension) and MLflow's
//!   scoring protocol ([`mlflow`]), with `/metrics` in Prometheus text ([`metrics`]).
//! - [`validate`]: every request's rows checked against the model's signature before the model
//!   sees them.
//! - [`model`]: the [`Predictor`] trait `cairn-app` implements with a trained model, the slots hot
//!   swap replaces, A/B weights and the shadow.
//! - [`loadtest`]: an open-loop load tester at a constant rate whose latencies count from each
//!   request's intended send time (coordinated omission corrected, as wrk2), in HdrHistograms.
//!
//! What is not here: no training, no workspace, no file formats of Cairn's own — the server is
//! handed predictors and a [`RequestSink`], and `cairn-app` decides where requests are logged.
//! Every socket is loopback unless a bearer token guards it; every loop of the load tester is
//! bounded in count and time.

pub mod kserve;
pub mod loadtest;
pub mod metrics;
pub mod mlflow;
pub mod model;
pub mod server;
pub mod validate;

pub use model::{ModelGroup, ModelInfo, Prediction, Predictor, Scored, Slot, Task, parse_routes};
pub use server::{RequestRecord, RequestSink, ServerConfig, ServerHandle, start};
pub use validate::{Cell, Checked, ExtraPolicy, Policy, Problem, RangePolicy, Table};

/// An error a request gets: its HTTP status and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeError {
    pub status: u16,
    pub message: String,
}

impl ServeError {
    pub fn bad_request(message: impl Into<String>) -> ServeError {
        ServeError {
            status: 400,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> ServeError {
        ServeError {
            status: 404,
            message: message.into(),
        }
    }

    pub fn internal(message: impl Into<String>) -> ServeError {
        ServeError {
            status: 500,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.status)
    }
}
