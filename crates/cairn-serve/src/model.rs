//! What the server serves: a [`Predictor`] (implemented by `cairn-app` with a trained model and
//! its preprocessing), the models of one name with their A/B weights and shadow, and the slot
//! that hot swap replaces while requests are in flight.

use cairn_core::Frame;
use cairn_core::registry::InputColumn;
use serde::Serialize;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// What the model predicts.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "task", rename_all = "snake_case")]
pub enum Task {
    /// Class labels, in the order of the probabilities.
    Classification {
        classes: Vec<String>,
    },
    Regression,
}

/// A served model as the protocols describe it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelInfo {
    /// The name on the wire: the registered name (a bundle file: its run's name).
    pub name: String,
    /// The registered version (a bundle file: 1).
    pub version: u32,
    /// Where it came from, in words (`iris@production`, `model.zip`).
    pub source: String,
    /// The run that trained it.
    pub run_id: String,
    /// The input signature: one field per feature column, with its training range and categories.
    pub inputs: Vec<InputColumn>,
    pub task: Task,
    /// Categories not seen in training are encoded as none (the model's `unseen=ignore`)
    /// instead of refused.
    pub unseen_ignored: bool,
}

/// A model's answer for a batch of rows.
#[derive(Debug, Clone, PartialEq)]
pub enum Prediction {
    /// Row-major `rows × classes` probabilities.
    Classes {
        proba: Vec<f64>,
    },
    Values {
        values: Vec<f64>,
    },
}

/// A prediction with the time its two parts took.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub prediction: Prediction,
    pub preprocess: Duration,
    pub infer: Duration,
}

/// A model that predicts validated rows. The frame holds one column per input of
/// [`ModelInfo::inputs`], numeric columns as numbers and categorical ones as text; a value the
/// validator let through as missing is `None`.
pub trait Predictor: Send + Sync + 'static {
    fn info(&self) -> &ModelInfo;
    fn predict(&self, frame: &Frame) -> Result<Scored, String>;
}

/// One served version, replaceable while requests use it: a request takes the current
/// predictor (an `Arc`) and keeps it to the end, so a swap never fails a request in flight.
pub struct Slot {
    /// The alias this slot follows (`production`), or `None` for a fixed version or a file.
    pub alias: Option<String>,
    current: RwLock<Arc<dyn Predictor>>,
}

impl Slot {
    pub fn new(alias: Option<String>, predictor: Arc<dyn Predictor>) -> Slot {
        Slot {
            alias,
            current: RwLock::new(predictor),
        }
    }

    pub fn get(&self) -> Arc<dyn Predictor> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the predictor; requests already holding the old one finish with it.
    pub fn swap(&self, predictor: Arc<dyn Predictor>) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = predictor;
    }

    /// The arm's label in logs and metrics: the alias, or `v3`.
    pub fn label(&self) -> String {
        match &self.alias {
            Some(a) => a.clone(),
            None => format!("v{}", self.get().info().version),
        }
    }
}

/// The models served under one name: the arms traffic is split over by weight (sticky by a
/// request key), and the shadow that also gets every request off the hot path.
pub struct ModelGroup {
    pub name: String,
    pub slots: Vec<Arc<Slot>>,
    /// `(slot index, weight)`; empty means every request goes to the first slot.
    pub routes: Vec<(usize, u32)>,
    pub shadow: Option<usize>,
}

impl ModelGroup {
    /// The arm for a request: by the key's hash when a key is given, else by the request's
    /// sequence number spread uniformly (SplitMix64), so the shares follow the weights.
    pub fn pick(&self, key: Option<&str>, seq: u64) -> usize {
        let total: u64 = self.routes.iter().map(|(_, w)| u64::from(*w)).sum();
        if total == 0 {
            return 0;
        }
        let h = match key {
            Some(k) => fnv1a(k.as_bytes()),
            None => splitmix64(seq),
        };
        let mut at = h % total;
        for (slot, w) in &self.routes {
            let w = u64::from(*w);
            if at < w {
                return *slot;
            }
            at -= w;
        }
        0
    }

    /// The slot serving `version`, when one of this group's slots currently holds it.
    pub fn slot_for_version(&self, version: u32) -> Option<Arc<Slot>> {
        self.slots
            .iter()
            .find(|s| s.get().info().version == version)
            .cloned()
    }
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    splitmix64(h)
}

/// Parses `--route production=90,challenger=10` into `(arm, weight)` pairs.
pub fn parse_routes(text: &str) -> Result<Vec<(String, u32)>, String> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (arm, w) = part.split_once('=').ok_or_else(|| {
            format!("--route `{part}`: expected ARM=WEIGHT, e.g. production=90,challenger=10")
        })?;
        let w: u32 = w.trim().parse().map_err(|_| {
            format!("--route `{part}`: the weight `{w}` is not a whole number from 0 to 1000000")
        })?;
        if w > 1_000_000 {
            return Err(format!("--route `{part}`: a weight is at most 1000000"));
        }
        if out.iter().any(|(a, _): &(String, u32)| a == arm.trim()) {
            return Err(format!("--route: the arm `{}` is given twice", arm.trim()));
        }
        out.push((arm.trim().to_string(), w));
    }
    if out.is_empty() {
        return Err("--route: give at least one ARM=WEIGHT".into());
    }
    if out.iter().all(|(_, w)| *w == 0) {
        return Err("--route: the weights add up to 0; give at least one a positive weight".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(ModelInfo);
    impl Predictor for Fixed {
        fn info(&self) -> &ModelInfo {
            &self.0
        }
        fn predict(&self, frame: &Frame) -> Result<Scored, String> {
            Ok(Scored {
                prediction: Prediction::Values {
                    values: vec![f64::from(self.0.version); frame.rows()],
                },
                preprocess: Duration::ZERO,
                infer: Duration::ZERO,
            })
        }
    }

    fn slot(alias: &str, version: u32) -> Arc<Slot> {
        Arc::new(Slot::new(
            Some(alias.into()),
            Arc::new(Fixed(ModelInfo {
                name: "m".into(),
                version,
                source: String::new(),
                run_id: String::new(),
                inputs: vec![],
                task: Task::Regression,
                unseen_ignored: false,
            })),
        ))
    }

    #[test]
    fn weights_split_traffic_within_a_point_and_keys_stick() {
        let g = ModelGroup {
            name: "m".into(),
            slots: vec![slot("production", 1), slot("challenger", 2)],
            routes: vec![(0, 90), (1, 10)],
            shadow: None,
        };
        let n = 10_000;
        let second = (0..n).filter(|&i| g.pick(None, i) == 1).count();
        assert!(
            (900..=1100).contains(&second),
            "challenger got {second} of {n}"
        );
        let keyed: Vec<usize> = (0..50).map(|_| g.pick(Some("user-17"), 0)).collect();
        assert!(keyed.iter().all(|&k| k == keyed[0]));
        let by_key = (0..n)
            .filter(|i| g.pick(Some(&format!("user-{i}")), 0) == 1)
            .count();
        assert!(
            (900..=1100).contains(&by_key),
            "keyed challenger share {by_key}"
        );
    }

    #[test]
    fn a_swap_leaves_the_old_predictor_to_requests_holding_it() {
        let s = slot("production", 1);
        let held = s.get();
        s.swap(slot("production", 2).get());
        assert_eq!(held.info().version, 1);
        assert_eq!(s.get().info().version, 2);
    }

    #[test]
    fn routes_parse_and_refuse() {
        assert_eq!(
            parse_routes("production=90, challenger=10").unwrap(),
            vec![("production".into(), 90), ("challenger".into(), 10)]
        );
        for bad in ["", "production", "a=x", "a=1,a=2", "a=0", "a=-1"] {
            assert!(parse_routes(bad).is_err(), "{bad}");
        }
    }
}
