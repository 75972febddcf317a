//! Summation in numpy's order.
//!
//! numpy reduces a contiguous float64 array with pairwise summation: blocks of at most 128 values
//! are summed with eight interleaved accumulators, larger arrays are split in two (at a multiple of
//! eight) and summed recursively. Reproducing that order makes every sum here bit-for-bit equal to
//! numpy's `np.sum` / `np.mean`, so figures that cancel badly (R² of a nearly constant target,
//! MAPE with a zero target) still equal scikit-learn's, and the order never depends on threads.

/// numpy's `PW_BLOCKSIZE`.
const BLOCK: usize = 128;

/// `np.sum(values)` for a contiguous float64 array.
pub(crate) fn sum(values: &[f64]) -> f64 {
    let n = values.len();
    if n < 8 {
        let mut total = 0.0;
        for &value in values {
            total += value;
        }
        total
    } else if n <= BLOCK {
        let mut acc = [0.0; 8];
        acc.copy_from_slice(&values[..8]);
        let whole = n - n % 8;
        let mut i = 8;
        while i < whole {
            for (j, slot) in acc.iter_mut().enumerate() {
                *slot += values[i + j];
            }
            i += 8;
        }
        let mut total =
            ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
        for &value in &values[whole..] {
            total += value;
        }
        total
    } else {
        let mut half = n / 2;
        half -= half % 8;
        sum(&values[..half]) + sum(&values[half..])
    }
}

/// `np.mean(values)`; the caller guarantees at least one value.
pub(crate) fn mean(values: &[f64]) -> f64 {
    sum(values) / values.len() as f64
}

/// `np.average(values, weights=weights)`: `sum(values * weights) / sum(weights)`.
pub(crate) fn weighted_mean(values: &[f64], weights: &[f64]) -> f64 {
    let products: Vec<f64> = values.iter().zip(weights).map(|(v, w)| v * w).collect();
    sum(&products) / sum(weights)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_sums_are_sequential() {
        assert_eq!(sum(&[]), 0.0);
        assert_eq!(sum(&[0.1, 0.2, 0.3]), 0.1 + 0.2 + 0.3);
    }

    #[test]
    fn blocks_use_eight_accumulators() {
        let values: Vec<f64> = (0..19).map(|i| 0.1 * f64::from(i) + 1e-3).collect();
        let mut acc = [0.0; 8];
        for (j, slot) in acc.iter_mut().enumerate() {
            *slot = values[j] + values[j + 8];
        }
        let expected = ((acc[0] + acc[1]) + (acc[2] + acc[3]))
            + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
            + values[16]
            + values[17]
            + values[18];
        assert_eq!(sum(&values), expected);
    }

    #[test]
    fn large_sums_split_at_multiples_of_eight() {
        let values: Vec<f64> = (0..1001).map(|i| (f64::from(i) * 0.37).sin()).collect();
        // 1001 / 2 = 500, rounded down to a multiple of 8: 496.
        assert_eq!(sum(&values), sum(&values[..496]) + sum(&values[496..]));
    }
}
