//! The data use cases: import, inspect, profile, check, diff, split, export and delete data set
//! versions. Thin over `cairn-store`; what it adds is reading the user's files (rules) and
//! naming things the way a person wrote them.

use crate::json::{DatasetDetail, DeleteSummary, VersionOptions};
use crate::{AppError, Result, Workspace};
use cairn_core::diff::DatasetDiff;
use cairn_core::profile::DatasetProfile;
use cairn_core::quality::{QualityReport, QualityRules};
use cairn_core::split::SplitSpec;
use cairn_core::{DatasetVersion, ImportOptions, ProgressObserver};
use cairn_store::{ImportOutcome, ImportRequest, Page};
use std::path::Path;

impl Workspace {
    /// Imports a file or a folder of files as a new data set version (or finds the identical
    /// one). The name defaults to the file or folder name.
    pub fn import_dataset(
        &mut self,
        path: &Path,
        name: Option<&str>,
        options: ImportOptions,
        observer: &mut dyn ProgressObserver,
    ) -> Result<ImportOutcome> {
        let name = match name {
            Some(n) => n.to_string(),
            None => {
                let stem = if path.is_dir() {
                    path.file_name()
                } else {
                    path.file_stem()
                }
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
                cairn_core::dataset::dataset_name_from_stem(&stem)
            }
        };
        Ok(self.store.import(
            &ImportRequest {
                path,
                name: &name,
                options,
            },
            observer,
        )?)
    }

    /// Every live version of one data set, with the lineage that touches it.
    pub fn dataset_detail(&self, name: &str) -> Result<DatasetDetail> {
        let versions: Vec<DatasetVersion> = self
            .store
            .list_versions()?
            .into_iter()
            .filter(|v| v.name == name)
            .collect();
        if versions.is_empty() {
            // Resolving gives the helpful "known data sets" message.
            self.resolve_dataset(name)?;
        }
        let mut read_as = Vec::new();
        for v in &versions {
            if let Some(options) = self.store.import_options(v)? {
                read_as.push(VersionOptions {
                    version: v.version,
                    options,
                });
            }
        }
        Ok(DatasetDetail {
            name: name.to_string(),
            lineage: self.store.lineage(name)?,
            versions,
            read_as,
        })
    }

    pub fn dataset_profile(&self, reference: &str) -> Result<(DatasetVersion, DatasetProfile)> {
        let v = self.resolve_dataset(reference)?;
        let p = self.store.profile(&v)?;
        Ok((v, p))
    }

    pub fn dataset_page(&self, reference: &str, offset: u64, limit: u64) -> Result<Page> {
        let v = self.resolve_dataset(reference)?;
        Ok(self.store.page(&v, offset, limit)?)
    }

    /// Checks a version against the rules in a TOML file; the report is stored with the version.
    pub fn check_quality(&self, reference: &str, rules_file: &Path) -> Result<QualityReport> {
        let text = std::fs::read_to_string(rules_file)
            .map_err(|e| AppError::io(format!("reading {}", rules_file.display()), e))?;
        let rules = QualityRules::parse(&text)
            .map_err(|e| AppError::invalid(format!("{}: {e}", rules_file.display())))?;
        let v = self.resolve_dataset(reference)?;
        Ok(self.store.check_quality(&v, &rules)?)
    }

    pub fn last_quality_report(&self, reference: &str) -> Result<Option<QualityReport>> {
        let v = self.resolve_dataset(reference)?;
        Ok(self.store.last_quality_report(&v)?)
    }

    /// Differences from `from` to `to`; a `to` without a name (`@2`) means the same data set.
    pub fn diff_datasets(&self, from: &str, to: &str, key: Option<&str>) -> Result<DatasetDiff> {
        let a = self.resolve_dataset(from)?;
        let to = if to.starts_with('@') {
            format!("{}{to}", a.name)
        } else {
            to.to_string()
        };
        let b = self.resolve_dataset(&to)?;
        Ok(self.store.diff(&a, &b, key)?)
    }

    pub fn split_dataset(
        &mut self,
        reference: &str,
        spec: &SplitSpec,
        observer: &mut dyn ProgressObserver,
    ) -> Result<Vec<ImportOutcome>> {
        let v = self.resolve_dataset(reference)?;
        Ok(self.store.split(&v, spec, observer)?)
    }

    pub fn export_dataset(&self, reference: &str, to: &Path) -> Result<DatasetVersion> {
        let v = self.resolve_dataset(reference)?;
        self.store.export(&v, to)?;
        Ok(v)
    }

    pub fn delete_dataset(&mut self, reference: &str, force: bool) -> Result<DeleteSummary> {
        let v = self.resolve_dataset(reference)?;
        let out = self.store.delete_version(&v, force)?;
        Ok(DeleteSummary {
            deleted: out.deleted,
            runs: out.runs,
            derived: out.derived,
            table_dropped: out.table_dropped,
        })
    }
}
