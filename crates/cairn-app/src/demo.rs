//! `cairn demo`: the whole lifecycle on the bundled breast-cancer data.

use crate::{AppError, ExportOptions, Result, TrainRequest, WorkspaceDir};
use cairn_core::{ProgressObserver, Step};
use serde::Serialize;
use std::collections::BTreeMap;

/// The Wisconsin breast cancer data set, as shipped in `sample-data/` (see its data card).
const BREAST_CANCER_CSV: &[u8] = include_bytes!("../../../sample-data/breast_cancer.csv");

#[derive(Debug, Clone, Serialize)]
pub struct DemoSummary {
    pub workspace: String,
    pub dataset: String,
    pub data_version_hash: String,
    pub run_id: String,
    pub run_name: String,
    pub test_accuracy: f64,
    pub bundle_path: String,
    pub bundle_root_hash: String,
    pub bundle_verified: bool,
    pub search_hits: usize,
}

pub const DEMO_RUN: &str = "demo-logistic";

impl WorkspaceDir {
    /// Import → train → search → bundle → verify, reporting each stage; each step takes its
    /// own turns of the workspace.
    pub fn demo(&self, observer: &mut dyn ProgressObserver) -> Result<DemoSummary> {
        let stage = |observer: &mut dyn ProgressObserver, done: u64, message: &str| {
            observer.on_step(&Step {
                stage: "demo".into(),
                done,
                total: Some(5),
                message: message.into(),
                metrics: Default::default(),
            })
        };
        let _ = stage(
            observer,
            0,
            "importing sample-data/breast_cancer.csv into DuckDB",
        );
        // The scratch copy is written inside the turn: the workspace exists (or is created) first.
        let scratch = self.root().join("samples");
        let csv = scratch.join("breast_cancer.csv");
        let imported = self.turn("importing the demo data", |ws| {
            std::fs::create_dir_all(&scratch)
                .map_err(|e| AppError::io(format!("creating {}", scratch.display()), e))?;
            std::fs::write(&csv, BREAST_CANCER_CSV)
                .map_err(|e| AppError::io(format!("writing {}", csv.display()), e))?;
            ws.import_dataset(
                &csv,
                Some("breast_cancer"),
                Default::default(),
                &mut cairn_core::Progress::silent(),
            )
        });
        let _ = std::fs::remove_dir_all(&scratch);
        let version = imported?.version;

        let _ = stage(
            observer,
            1,
            "training logistic regression with Candle (seed 42)",
        );
        let run = self.train(
            &TrainRequest {
                dataset: version.label(),
                target: "target".into(),
                model: "logistic".into(),
                seed: 42,
                name: Some(DEMO_RUN.into()),
                tags: BTreeMap::from([("purpose".into(), "demo".into())]),
                params: BTreeMap::new(),
                ..Default::default()
            },
            observer,
        )?;

        let _ = stage(
            observer,
            2,
            "finding the run again through the search index",
        );
        let query =
            format!("\"{DEMO_RUN}\" AND tags.purpose = 'demo' AND metrics.test_accuracy > 0.5");
        let search_hits = self
            .turn("searching runs", |ws| ws.search(&query, 10, 0))?
            .runs
            .iter()
            .filter(|r| r.id == run.id)
            .count();

        let _ = stage(observer, 3, "exporting a bundle");
        let bundle_path = self
            .root()
            .join("bundles")
            .join(format!("{DEMO_RUN}-{}.zip", run.id.short()));
        let bundle = self.export_bundle(
            run.id.as_str(),
            &bundle_path,
            &ExportOptions::default(),
            &mut cairn_core::Progress::silent(),
        )?;

        let _ = stage(observer, 4, "verifying the bundle");
        let report = crate::verify_bundle(&bundle_path)?;
        let _ = stage(observer, 5, "done");
        Ok(DemoSummary {
            workspace: self.root().display().to_string(),
            dataset: version.label(),
            data_version_hash: version.hash,
            run_id: run.id.as_str().to_string(),
            run_name: run.name,
            test_accuracy: run
                .metrics
                .get("test_accuracy")
                .copied()
                .unwrap_or(f64::NAN),
            bundle_path: bundle.path,
            bundle_root_hash: bundle.root_hash,
            bundle_verified: report.ok(),
            search_hits,
        })
    }
}
