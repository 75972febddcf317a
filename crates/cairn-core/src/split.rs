//! Reproducible train/valid/test splits: which row goes to which part.
//!
//! The assignment is a pure function of the rows (in version order), the ratios, the seed and
//! the optional stratify/group columns. It uses Cairn's own [`SplitMix64`], never a platform RNG,
//! so the same inputs give the same rows on every machine.

use crate::SplitMix64;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitSpec {
    /// Part names and their shares of the rows, e.g. `train=0.7, valid=0.15, test=0.15`.
    pub parts: Vec<(String, f64)>,
    pub seed: u64,
    #[serde(default)]
    pub stratify: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
}

impl SplitSpec {
    /// Parses `0.8,0.2`, `0.7,0.15,0.15` (named train/valid/test or train/test) or
    /// `train=0.8,holdout=0.2`. Ratios must be positive and sum to 1 (within 1e-6).
    pub fn parse_parts(text: &str) -> Result<Vec<(String, f64)>, String> {
        let items: Vec<&str> = text.split(',').map(str::trim).collect();
        let default_names: &[&str] = match items.len() {
            2 => &["train", "test"],
            3 => &["train", "valid", "test"],
            _ => &[],
        };
        let mut parts = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let (name, ratio) = match item.split_once('=') {
                Some((n, r)) => (n.trim().to_string(), r.trim()),
                None => match default_names.get(i) {
                    Some(n) => (n.to_string(), *item),
                    None => {
                        return Err(format!(
                            "`{text}`: name the parts (`train=0.6,a=0.2,b=0.2`) when there are not 2 or 3"
                        ));
                    }
                },
            };
            let ratio: f64 = ratio
                .parse()
                .map_err(|_| format!("`{ratio}` in `{text}` is not a number"))?;
            if !(ratio > 0.0 && ratio < 1.0) {
                return Err(format!(
                    "ratio {ratio} for `{name}` must be between 0 and 1"
                ));
            }
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(format!(
                    "part name `{name}` must be letters, digits, `_` or `-`"
                ));
            }
            if parts.iter().any(|(n, _)| n == &name) {
                return Err(format!("part `{name}` is named twice"));
            }
            parts.push((name, ratio));
        }
        let sum: f64 = parts.iter().map(|(_, r)| r).sum();
        if parts.len() < 2 || (sum - 1.0).abs() > 1e-6 {
            return Err(format!(
                "`{text}`: give at least two ratios that sum to 1 (they sum to {sum})"
            ));
        }
        Ok(parts)
    }
}

/// Assigns each row to a part index.
///
/// `strata[i]` and `groups[i]` are row i's stratum and group keys (`None` when the split is not
/// stratified or not grouped). Rows of one group always land in the same part; a group's stratum
/// is the stratum of its first row. Within each stratum (in key order) the units — groups, or
/// single rows — are shuffled with the seeded generator and laid end to end; a unit goes to the
/// part whose cumulative share contains the unit's midpoint. For single rows this gives each part
/// of each stratum its share rounded, never off by a whole row.
pub fn assign_parts(
    rows: usize,
    ratios: &[f64],
    seed: u64,
    strata: Option<&[Option<String>]>,
    groups: Option<&[Option<String>]>,
) -> Vec<u8> {
    // Units in first-appearance order.
    let mut unit_of_key: BTreeMap<Option<&str>, usize> = BTreeMap::new();
    let mut unit_rows: Vec<Vec<usize>> = Vec::new();
    for row in 0..rows {
        let unit = match groups {
            Some(g) => {
                let key = g[row].as_deref();
                *unit_of_key.entry(key).or_insert_with(|| {
                    unit_rows.push(Vec::new());
                    unit_rows.len() - 1
                })
            }
            None => {
                unit_rows.push(Vec::new());
                unit_rows.len() - 1
            }
        };
        unit_rows[unit].push(row);
    }
    let mut by_stratum: BTreeMap<Option<&str>, Vec<usize>> = BTreeMap::new();
    for (u, members) in unit_rows.iter().enumerate() {
        let key = strata.and_then(|s| s[members[0]].as_deref());
        by_stratum.entry(key).or_default().push(u);
    }
    let mut cumulative = Vec::with_capacity(ratios.len());
    let mut acc = 0.0;
    for r in ratios {
        acc += r;
        cumulative.push(acc);
    }
    let last = ratios.len() - 1;
    let mut rng = SplitMix64::new(seed);
    let mut out = vec![0u8; rows];
    for units in by_stratum.values_mut() {
        rng.shuffle(units);
        let total: usize = units.iter().map(|&u| unit_rows[u].len()).sum();
        let mut before = 0usize;
        for &u in units.iter() {
            let size = unit_rows[u].len();
            let mid = (before as f64 + size as f64 / 2.0) / total as f64;
            let part = cumulative.iter().position(|&c| mid < c).unwrap_or(last);
            for &row in &unit_rows[u] {
                out[row] = part as u8;
            }
            before += size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_parts() {
        assert_eq!(
            SplitSpec::parse_parts("0.8,0.2").unwrap(),
            vec![("train".into(), 0.8), ("test".into(), 0.2)]
        );
        assert_eq!(SplitSpec::parse_parts("0.7,0.15,0.15").unwrap().len(), 3);
        assert!(SplitSpec::parse_parts("0.5,0.2").is_err());
        assert!(SplitSpec::parse_parts("a=0.5,a=0.5").is_err());
        assert!(SplitSpec::parse_parts("0.2,0.2,0.2,0.4").is_err());
    }

    #[test]
    fn plain_split_hits_the_ratios_and_is_seeded() {
        let a = assign_parts(1000, &[0.7, 0.15, 0.15], 7, None, None);
        let counts = |v: &[u8]| {
            (0..3)
                .map(|p| v.iter().filter(|&&x| x == p).count())
                .collect::<Vec<_>>()
        };
        assert_eq!(counts(&a), vec![700, 150, 150]);
        assert_eq!(a, assign_parts(1000, &[0.7, 0.15, 0.15], 7, None, None));
        assert_ne!(a, assign_parts(1000, &[0.7, 0.15, 0.15], 8, None, None));
    }

    #[test]
    fn stratified_split_keeps_proportions_within_one_row() {
        let strata: Vec<Option<String>> = (0..997)
            .map(|i| {
                Some(
                    if i % 10 < 7 {
                        "a"
                    } else if i % 10 < 9 {
                        "b"
                    } else {
                        "c"
                    }
                    .to_string(),
                )
            })
            .collect();
        let parts = assign_parts(997, &[0.6, 0.2, 0.2], 1, Some(&strata), None);
        for class in ["a", "b", "c"] {
            let n = strata
                .iter()
                .filter(|s| s.as_deref() == Some(class))
                .count() as f64;
            for (p, r) in [0.6, 0.2, 0.2].iter().enumerate() {
                let got = (0..997)
                    .filter(|&i| strata[i].as_deref() == Some(class) && parts[i] == p as u8)
                    .count() as f64;
                assert!(
                    (got - n * r).abs() <= 1.0,
                    "{class} part {p}: {got} vs {}",
                    n * r
                );
            }
        }
    }

    #[test]
    fn groups_never_cross_parts() {
        let groups: Vec<Option<String>> = (0..500).map(|i| Some(format!("g{}", i % 37))).collect();
        let parts = assign_parts(500, &[0.8, 0.2], 3, None, Some(&groups));
        let mut seen: BTreeMap<&str, u8> = BTreeMap::new();
        for (i, g) in groups.iter().enumerate() {
            let p = *seen.entry(g.as_deref().unwrap()).or_insert(parts[i]);
            assert_eq!(p, parts[i]);
        }
        let test = parts.iter().filter(|&&p| p == 1).count();
        assert!((60..=140).contains(&test), "{test}");
    }
}
