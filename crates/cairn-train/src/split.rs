//! Seeded train/test splits of row indices.

use cairn_core::SplitMix64;

/// Shuffles `0..rows` with `seed` and cuts off `test_fraction` (at least one row each side).
/// Returns `(train, test)`, each in ascending row order. The same arguments give the same
/// rows on every machine.
pub fn train_test_indices(rows: usize, test_fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut idx: Vec<usize> = (0..rows).collect();
    SplitMix64::new(seed).shuffle(&mut idx);
    let n_test = ((rows as f64) * test_fraction).round() as usize;
    let n_test = n_test.clamp(usize::from(rows > 1), rows.saturating_sub(1));
    let mut test = idx[..n_test].to_vec();
    let mut train = idx[n_test..].to_vec();
    test.sort_unstable();
    train.sort_unstable();
    (train, test)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_seeded_disjoint_and_complete() {
        let (a_train, a_test) = train_test_indices(100, 0.2, 42);
        let (b_train, b_test) = train_test_indices(100, 0.2, 42);
        assert_eq!((&a_train, &a_test), (&b_train, &b_test));
        assert_eq!(a_test.len(), 20);
        let mut all: Vec<usize> = a_train.iter().chain(&a_test).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
        let (_, c_test) = train_test_indices(100, 0.2, 43);
        assert_ne!(a_test, c_test);
    }
}
