//! Comparing two safetensors files tensor by tensor (`cairn bundle reproduce`).

use crate::Result;
use safetensors::{Dtype, SafeTensors};
use serde::Serialize;
use std::collections::BTreeSet;

/// How one tensor of `a` compares with the tensor of the same name in `b`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TensorDiff {
    pub name: String,
    /// Same dtype, shape and bytes.
    pub identical: bool,
    /// The largest absolute difference of F32/F64 values of the same shape; `None` when the
    /// tensor is missing on one side, the shapes or dtypes differ, or the dtype is not a float.
    pub max_abs_diff: Option<f64>,
    /// Why the values could not be compared, if they could not.
    pub issue: Option<String>,
}

fn floats(dtype: Dtype, bytes: &[u8]) -> Option<Vec<f64>> {
    match dtype {
        Dtype::F32 => Some(
            bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
                .collect(),
        ),
        Dtype::F64 => Some(
            bytes
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect(),
        ),
        _ => None,
    }
}

/// Compares every tensor of two safetensors files, by name (the union of both, sorted).
pub fn compare_safetensors(a: &[u8], b: &[u8]) -> Result<Vec<TensorDiff>> {
    let (ta, tb) = (SafeTensors::deserialize(a)?, SafeTensors::deserialize(b)?);
    let names: BTreeSet<String> = ta
        .names()
        .into_iter()
        .chain(tb.names())
        .map(str::to_string)
        .collect();
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let diff = match (ta.tensor(&name).ok(), tb.tensor(&name).ok()) {
            (Some(x), Some(y)) if x.dtype() == y.dtype() && x.shape() == y.shape() => {
                let identical = x.data() == y.data();
                match (floats(x.dtype(), x.data()), floats(y.dtype(), y.data())) {
                    (Some(u), Some(v)) => TensorDiff {
                        name,
                        identical,
                        max_abs_diff: Some(
                            u.iter()
                                .zip(&v)
                                .map(|(p, q)| match (p.is_nan(), q.is_nan()) {
                                    (true, true) => 0.0,
                                    // NaN on one side only: as different as can be (f64::max
                                    // would drop a NaN difference and call it a match).
                                    (true, false) | (false, true) => f64::INFINITY,
                                    _ if p == q => 0.0,
                                    _ => (p - q).abs(),
                                })
                                .fold(0.0, f64::max),
                        ),
                        issue: None,
                    },
                    _ => TensorDiff {
                        name,
                        identical,
                        max_abs_diff: None,
                        issue: (!identical).then(|| "the bytes differ".to_string()),
                    },
                }
            }
            (Some(x), Some(y)) => TensorDiff {
                name,
                identical: false,
                max_abs_diff: None,
                issue: Some(format!(
                    "{:?} {:?} against {:?} {:?}",
                    x.dtype(),
                    x.shape(),
                    y.dtype(),
                    y.shape()
                )),
            },
            (x, _) => TensorDiff {
                name,
                identical: false,
                max_abs_diff: None,
                issue: Some(if x.is_some() {
                    "missing from the second file".into()
                } else {
                    "missing from the first file".into()
                }),
            },
        };
        out.push(diff);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use safetensors::tensor::TensorView;

    fn file(values: &[f32]) -> Vec<u8> {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let view = TensorView::new(Dtype::F32, vec![values.len()], &bytes).unwrap();
        safetensors::serialize([("w", view)], None).unwrap()
    }

    #[test]
    fn identical_and_different_tensors() {
        let a = file(&[1.0, 2.0, 3.0]);
        let same = compare_safetensors(&a, &a).unwrap();
        assert_eq!(same.len(), 1);
        assert!(same[0].identical);
        assert_eq!(same[0].max_abs_diff, Some(0.0));
        let b = file(&[1.0, 2.5, 3.0]);
        let diff = compare_safetensors(&a, &b).unwrap();
        assert!(!diff[0].identical);
        assert_eq!(diff[0].max_abs_diff, Some(0.5));
        let c = file(&[1.0, 2.0]);
        let shape = compare_safetensors(&a, &c).unwrap();
        assert!(shape[0].issue.is_some() && shape[0].max_abs_diff.is_none());
    }

    #[test]
    fn a_nan_on_one_side_is_no_match() {
        let a = file(&[1.0, f32::NAN, 3.0]);
        let b = file(&[1.0, 2.0, 3.0]);
        let diff = compare_safetensors(&a, &b).unwrap();
        assert_eq!(diff[0].max_abs_diff, Some(f64::INFINITY));
        // NaN in the same place on both sides: the same weights.
        let both = compare_safetensors(&a, &a).unwrap();
        assert_eq!(both[0].max_abs_diff, Some(0.0));
    }
}
