//! `cairn lineage`: where a model version, run or data version came from and where it went —
//! source file → data version (→ derived versions, e.g. a split) → run → model version → bundle
//! → alias moves — as one graph, written as JSON, Graphviz DOT or Mermaid.

use crate::{AppError, Result, Workspace};
use cairn_core::{DatasetVersion, Run};
use cairn_store::ModelVersionRow;
use serde::Serialize;
use std::collections::BTreeSet;

/// How far up a chain of derived data versions lineage follows (a guard for a damaged store).
const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct LineageNode {
    /// `file:…`, `data:NAME@N`, `run:<id>`, `model:NAME@N`, `bundle:<sha256>`, `alias:NAME@A`.
    pub id: String,
    /// `file`, `data`, `run`, `model`, `bundle` or `alias`.
    pub kind: String,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct LineageEdge {
    pub from: String,
    pub to: String,
    /// `imported`, `split`, `trained`, `registered`, `bundled`, `alias`.
    pub kind: String,
    pub label: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct LineageGraph {
    /// The node asked about.
    pub root: String,
    pub nodes: Vec<LineageNode>,
    pub edges: Vec<LineageEdge>,
}

#[derive(Default)]
struct Builder {
    nodes: BTreeSet<LineageNode>,
    edges: BTreeSet<LineageEdge>,
    seen_runs: BTreeSet<String>,
    seen_data: BTreeSet<String>,
}

impl Builder {
    fn node(&mut self, id: &str, kind: &str, label: String) {
        self.nodes.insert(LineageNode {
            id: id.into(),
            kind: kind.into(),
            label,
        });
    }

    fn edge(&mut self, from: &str, to: &str, kind: &str, label: String) {
        self.edges.insert(LineageEdge {
            from: from.into(),
            to: to.into(),
            kind: kind.into(),
            label,
        });
    }
}

impl Workspace {
    /// The lineage of `key`: a model version (`NAME@N`, `NAME@alias`), a run, or a data version.
    pub fn lineage(&self, key: &str) -> Result<LineageGraph> {
        let mut b = Builder::default();
        let is_model = key
            .split_once('@')
            .is_some_and(|(n, _)| self.store.registered_model(n).ok().flatten().is_some());
        let root = if is_model {
            let row = self.resolve_model(key)?;
            let id = self.add_model(&mut b, &row)?;
            if let Some(run_id) = &row.run_id
                && let Ok(run) = self.store.find_run(run_id)
            {
                self.add_run_upstream(&mut b, &run)?;
            }
            id
        } else if let Ok(run) = self.store.find_run(key) {
            self.add_run_upstream(&mut b, &run)?;
            self.add_run_downstream(&mut b, &run)?;
            format!("run:{}", run.id.as_str())
        } else if let Ok(v) = self.resolve_dataset(key) {
            let id = self.add_data(&mut b, &v, 0)?;
            for run in self.store.list_runs()? {
                if run.dataset_hash == v.hash {
                    b.edge(&id, &run_id(&run), "trained", "trained on".into());
                    self.add_run_node(&mut b, &run);
                    self.add_run_downstream(&mut b, &run)?;
                }
            }
            id
        } else {
            return Err(AppError::new(
                crate::ErrorCode::NotFound,
                format!(
                    "`{key}` is neither a registered model version (NAME@N, NAME@alias), a run, \
                     nor a data set version"
                ),
            ));
        };
        Ok(LineageGraph {
            root,
            nodes: b.nodes.into_iter().collect(),
            edges: b.edges.into_iter().collect(),
        })
    }

    fn add_data(&self, b: &mut Builder, v: &DatasetVersion, depth: usize) -> Result<String> {
        let id = format!("data:{}", v.label());
        if !b.seen_data.insert(id.clone()) || depth > MAX_DEPTH {
            return Ok(id);
        }
        b.node(
            &id,
            "data",
            format!(
                "{} ({} rows, {})",
                v.label(),
                v.rows,
                &v.hash[..12.min(v.hash.len())]
            ),
        );
        let parents: Vec<_> = self
            .store
            .lineage(&v.name)?
            .into_iter()
            .filter(|e| e.child == v.label())
            .collect();
        if parents.is_empty() {
            let file = format!("file:{}", v.source);
            b.node(&file, "file", v.source.clone());
            b.edge(&file, &id, "imported", format!("imported {}", v.created_at));
        }
        for e in parents {
            let parent_id = format!("data:{}", e.parent);
            match self.resolve_dataset(&e.parent) {
                Ok(p) if !e.parent_deleted => {
                    self.add_data(b, &p, depth + 1)?;
                }
                _ => b.node(&parent_id, "data", format!("data {} (deleted)", e.parent)),
            }
            let part = e.details.get("part").and_then(|p| p.as_str()).unwrap_or("");
            b.edge(
                &parent_id,
                &id,
                &e.kind,
                format!("{} {part}", e.kind).trim().to_string(),
            );
        }
        Ok(id)
    }

    fn add_run_node(&self, b: &mut Builder, run: &Run) {
        b.node(
            &run_id(run),
            "run",
            format!("run {} ({}, {})", run.name, run.model, run.status),
        );
    }

    /// The run and the data it trained on, up to the source files.
    fn add_run_upstream(&self, b: &mut Builder, run: &Run) -> Result<()> {
        self.add_run_node(b, run);
        let data = match self.resolve_dataset(&format!(
            "{}@{}",
            dataset_name(&run.dataset),
            run.dataset_hash
        )) {
            Ok(v) => self.add_data(b, &v, 0)?,
            Err(_) => {
                let id = format!("data:{}", run.dataset);
                b.node(
                    &id,
                    "data",
                    format!("{} (not in this workspace)", run.dataset),
                );
                id
            }
        };
        b.edge(&data, &run_id(run), "trained", "trained on".into());
        Ok(())
    }

    /// The model versions registered from the run, with their bundles and aliases.
    fn add_run_downstream(&self, b: &mut Builder, run: &Run) -> Result<()> {
        if !b.seen_runs.insert(run.id.as_str().to_string()) {
            return Ok(());
        }
        for m in self.store.registered_models()? {
            for row in self.store.model_versions(&m.name)? {
                if row.run_id.as_deref() == Some(run.id.as_str()) {
                    self.add_model(b, &row)?;
                }
            }
        }
        Ok(())
    }

    fn add_model(&self, b: &mut Builder, row: &ModelVersionRow) -> Result<String> {
        let id = format!("model:{}@{}", row.name, row.version);
        b.node(
            &id,
            "model",
            format!(
                "model {}@{}{}",
                row.name,
                row.version,
                if row.archived_at.is_some() {
                    " (archived)"
                } else {
                    ""
                }
            ),
        );
        if let Some(r) = &row.run_id {
            b.edge(
                &format!("run:{r}"),
                &id,
                "registered",
                format!("registered {}", row.created_at),
            );
        }
        let bundle = format!("bundle:{}", row.bundle_sha256);
        b.node(
            &bundle,
            "bundle",
            format!("bundle {}", &row.bundle_sha256[..12]),
        );
        b.edge(
            &id,
            &bundle,
            "bundled",
            format!("{} bytes", row.bundle_bytes),
        );
        for m in self.store.alias_moves(&row.name, None)? {
            if m.to_version == Some(row.version) {
                let alias = format!("alias:{}@{}", row.name, m.alias);
                b.node(&alias, "alias", format!("alias {}@{}", row.name, m.alias));
                b.edge(
                    &id,
                    &alias,
                    "alias",
                    format!(
                        "{} by {}{}",
                        m.at,
                        m.actor,
                        if m.forced { " (forced)" } else { "" }
                    ),
                );
            }
        }
        Ok(id)
    }
}

fn run_id(run: &Run) -> String {
    format!("run:{}", run.id.as_str())
}

fn dataset_name(label: &str) -> &str {
    label.split('@').next().unwrap_or(label)
}

impl LineageGraph {
    /// Graphviz DOT, left to right.
    pub fn to_dot(&self) -> String {
        let q = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
        let mut out =
            String::from("digraph lineage {\n  rankdir=LR;\n  node [fontname=\"sans-serif\"];\n");
        for n in &self.nodes {
            let shape = match n.kind.as_str() {
                "file" => "note",
                "data" => "cylinder",
                "run" => "box",
                "model" => "box3d",
                "bundle" => "folder",
                _ => "ellipse",
            };
            let bold = if n.id == self.root {
                ", penwidth=2"
            } else {
                ""
            };
            out.push_str(&format!(
                "  {} [label={}, shape={shape}{bold}];\n",
                q(&n.id),
                q(&n.label)
            ));
        }
        for e in &self.edges {
            out.push_str(&format!(
                "  {} -> {} [label={}];\n",
                q(&e.from),
                q(&e.to),
                q(&e.label)
            ));
        }
        out.push_str("}\n");
        out
    }

    /// A Mermaid flowchart, left to right (nodes are numbered; labels quoted).
    pub fn to_mermaid(&self) -> String {
        let index = |id: &str| self.nodes.iter().position(|n| n.id == id).unwrap_or(0);
        let q = |s: &str| s.replace('"', "#quot;");
        let mut out = String::from("flowchart LR\n");
        for (i, n) in self.nodes.iter().enumerate() {
            let (open, close) = match n.kind.as_str() {
                "data" => ("[(", ")]"),
                "model" => ("[[", "]]"),
                "alias" => ("([", "])"),
                _ => ("[", "]"),
            };
            out.push_str(&format!("  n{i}{open}\"{}\"{close}\n", q(&n.label)));
        }
        for e in &self.edges {
            out.push_str(&format!(
                "  n{} -->|\"{}\"| n{}\n",
                index(&e.from),
                q(&e.label),
                index(&e.to)
            ));
        }
        out
    }
}
