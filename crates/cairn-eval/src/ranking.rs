//! Ranking metrics of one binary problem (a class against the rest), computed the way
//! scikit-learn's `roc_curve` + `auc` and `average_precision_score` do: one threshold per distinct
//! score, tied scores enter together, and every array is summed in numpy's order.

use crate::sum::sum;

/// True and false positives at each distinct score, from the highest score down
/// (scikit-learn's `confusion_matrix_at_thresholds`).
struct ThresholdCounts {
    tps: Vec<f64>,
    fps: Vec<f64>,
}

fn threshold_counts(positive: &[bool], score: &[f64]) -> ThresholdCounts {
    let mut order: Vec<usize> = (0..score.len()).collect();
    // Stable, highest score first; the order inside a group of ties does not change the counts.
    order.sort_by(|&a, &b| score[b].total_cmp(&score[a]));
    let mut tps = Vec::new();
    let mut fps = Vec::new();
    let mut true_positives = 0u64;
    for (rank, &row) in order.iter().enumerate() {
        if positive[row] {
            true_positives += 1;
        }
        let last_of_group = order
            .get(rank + 1)
            .is_none_or(|&next| score[next] != score[row]);
        if last_of_group {
            let seen = (rank + 1) as u64;
            tps.push(true_positives as f64);
            fps.push((seen - true_positives) as f64);
        }
    }
    ThresholdCounts { tps, fps }
}

/// `roc_auc_score(positive, score)`; `None` where scikit-learn returns NaN (one class only).
pub(crate) fn roc_auc(positive: &[bool], score: &[f64]) -> Option<f64> {
    let n_positive = positive.iter().filter(|&&p| p).count();
    if n_positive == 0 || n_positive == positive.len() {
        return None;
    }
    let ThresholdCounts { tps, fps } = threshold_counts(positive, score);
    // roc_curve(drop_intermediate=True): keep the ends and every point where the curve bends.
    let kept: Vec<usize> = if fps.len() > 2 {
        let last = fps.len() - 1;
        (0..fps.len())
            .filter(|&i| {
                i == 0 || i == last || {
                    let bend = |v: &[f64]| (v[i + 1] - v[i]) - (v[i] - v[i - 1]) != 0.0;
                    bend(&fps) || bend(&tps)
                }
            })
            .collect()
    } else {
        (0..fps.len()).collect()
    };
    let fp_total = fps[fps.len() - 1];
    let tp_total = tps[tps.len() - 1];
    let mut fpr = vec![0.0];
    let mut tpr = vec![0.0];
    for &i in &kept {
        fpr.push(fps[i] / fp_total);
        tpr.push(tps[i] / tp_total);
    }
    // scipy.integrate.trapezoid(tpr, fpr); fpr never decreases, so the direction is +1.
    let areas: Vec<f64> = (1..fpr.len())
        .map(|i| (fpr[i] - fpr[i - 1]) * (tpr[i] + tpr[i - 1]) / 2.0)
        .collect();
    Some(sum(&areas))
}

/// `average_precision_score(positive, score)`; `None` when there is no positive row (scikit-learn
/// warns that recall is undefined and returns 0.0 there).
pub(crate) fn average_precision(positive: &[bool], score: &[f64]) -> Option<f64> {
    if !positive.iter().any(|&p| p) {
        return None;
    }
    let ThresholdCounts { tps, fps } = threshold_counts(positive, score);
    let tp_total = tps[tps.len() - 1];
    // precision_recall_curve: arrays reversed (lowest threshold first), then (precision 1, recall 0).
    let mut precision: Vec<f64> = tps
        .iter()
        .zip(&fps)
        .rev()
        .map(|(tp, fp)| tp / (tp + fp))
        .collect();
    precision.push(1.0);
    let mut recall: Vec<f64> = tps.iter().rev().map(|tp| tp / tp_total).collect();
    recall.push(0.0);
    // -sum(diff(recall) * precision[:-1]), floored at 0.
    let steps: Vec<f64> = (0..recall.len() - 1)
        .map(|i| (recall[i + 1] - recall[i]) * precision[i])
        .collect();
    Some(f64::max(0.0, -sum(&steps)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_form_one_threshold() {
        let counts = threshold_counts(&[true, false, true, false], &[0.5, 0.5, 0.9, 0.1]);
        assert_eq!(counts.tps, vec![1.0, 2.0, 2.0]);
        assert_eq!(counts.fps, vec![0.0, 1.0, 2.0]);
    }

    #[test]
    fn separable_scores_give_one() {
        let positive = [false, false, true, true];
        let score = [0.1, 0.2, 0.8, 0.9];
        assert_eq!(roc_auc(&positive, &score), Some(1.0));
        assert_eq!(average_precision(&positive, &score), Some(1.0));
    }

    #[test]
    fn one_class_only_is_undefined() {
        assert_eq!(roc_auc(&[true, true], &[0.2, 0.3]), None);
        assert_eq!(roc_auc(&[false, false], &[0.2, 0.3]), None);
        assert_eq!(average_precision(&[false, false], &[0.2, 0.3]), None);
        assert_eq!(average_precision(&[true, true], &[0.2, 0.3]), Some(1.0));
    }
}
