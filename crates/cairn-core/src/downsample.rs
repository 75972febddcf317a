//! Largest-Triangle-Three-Buckets (LTTB, Steinarsson 2013): thins a long metric history to a
//! few thousand points that still look like the whole series when drawn.
//!
//! The first and last points are always kept. The points in between are cut into
//! `threshold - 2` buckets of (nearly) equal count; from each bucket the point that forms the
//! largest triangle with the point kept from the bucket before and the mean of the bucket after
//! is kept. A spike is far from both neighbours, so its triangle is large and it survives, where
//! taking every k-th point or a bucket mean would drop it.
//!
//! Points whose step or value is not finite (a diverged loss recorded as NaN) cannot be drawn:
//! they are dropped first. A series of at most `threshold` points is returned as it is.

use crate::MetricPoint;

/// At most `threshold` points of `points` (in step order) chosen by LTTB; see the module docs.
/// A `threshold` below 3 is taken as 3 (first, one chosen point, last).
pub fn lttb(points: &[MetricPoint], threshold: usize) -> Vec<MetricPoint> {
    let finite = |p: &MetricPoint| p.value.is_finite();
    if points.iter().all(finite) {
        return lttb_finite(points, threshold);
    }
    let kept: Vec<MetricPoint> = points.iter().copied().filter(finite).collect();
    lttb_finite(&kept, threshold)
}

fn lttb_finite(data: &[MetricPoint], threshold: usize) -> Vec<MetricPoint> {
    let n = data.len();
    let threshold = threshold.max(3);
    if n <= threshold {
        return data.to_vec();
    }
    let x = |i: usize| data[i].step as f64;
    let y = |i: usize| data[i].value;
    let mut out = Vec::with_capacity(threshold);
    out.push(data[0]);
    // The inner points 1..n-1, cut into `threshold - 2` buckets whose sizes differ by at most
    // one, the larger first (as NumPy's `array_split`, so the reference's outputs are ours).
    let (inner, buckets) = (n - 2, threshold - 2);
    let (size, extra) = (inner / buckets, inner % buckets);
    let bucket_start = |b: usize| 1 + b * size + b.min(extra);
    let mut a = 0usize;
    for b in 0..buckets {
        let (from, to) = (bucket_start(b), bucket_start(b + 1));
        // The mean of the next bucket; the last bucket's "next" is the last point.
        let (next_from, next_to) = if b + 1 < buckets {
            (to, bucket_start(b + 2))
        } else {
            (n - 1, n)
        };
        let count = (next_to - next_from) as f64;
        let (mut mean_x, mut mean_y) = (0.0, 0.0);
        for j in next_from..next_to {
            mean_x += x(j);
            mean_y += y(j);
        }
        mean_x /= count;
        mean_y /= count;
        let (ax, ay) = (x(a), y(a));
        let mut best = from;
        let mut best_area = -1.0;
        for j in from..to {
            // Twice the triangle's area; the factor does not change which is largest.
            let area = ((ax - mean_x) * (y(j) - ay) - (ax - x(j)) * (mean_y - ay)).abs();
            if area > best_area {
                best_area = area;
                best = j;
            }
        }
        out.push(data[best]);
        a = best;
    }
    out.push(data[n - 1]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(values: &[f64]) -> Vec<MetricPoint> {
        values
            .iter()
            .enumerate()
            .map(|(i, &value)| MetricPoint {
                step: i as u64,
                value,
            })
            .collect()
    }

    fn steps(points: &[MetricPoint]) -> Vec<u64> {
        points.iter().map(|p| p.step).collect()
    }

    #[test]
    fn a_short_series_is_returned_as_it_is() {
        let s = series(&[1.0, 2.0, 3.0]);
        assert_eq!(lttb(&s, 3), s);
        assert_eq!(lttb(&s, 1000), s);
        assert_eq!(lttb(&[], 10), Vec::<MetricPoint>::new());
        // Below 3 is taken as 3.
        assert_eq!(lttb(&s, 1), s);
    }

    /// Expected outputs from the reference implementation (PyPI `lttb` 0.3.2,
    /// `lttb.downsample(np.array([...]), n_out)`), see the numbers in each case.
    #[test]
    fn known_outputs() {
        let cases: &[(&[f64], usize, &[u64])] = &[
            (
                &[0.0, 1.0, 0.0, 5.0, 0.0, 1.0, 0.0, 2.0, 0.0, 1.0],
                4,
                &[0, 3, 6, 9],
            ),
            (
                &[3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0, 5.0, 8.0],
                5,
                &[0, 3, 5, 9, 11],
            ),
            (&[0.0, 10.0, 0.0, 0.0, 0.0, 0.0, 0.0], 3, &[0, 1, 6]),
            (
                &[
                    3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0, 5.0, 8.0, 9.0, 7.0, 9.0, 3.0,
                    2.0, 3.0, 8.0, 4.0,
                ],
                7,
                &[0, 3, 5, 9, 14, 16, 19],
            ),
        ];
        for (values, n, expected) in cases {
            let got = steps(&lttb(&series(values), *n));
            assert_eq!(&got, expected, "{values:?} to {n}");
        }
    }

    #[test]
    fn a_spike_survives_a_million_points_to_two_thousand() {
        let n = 1_000_000;
        let mut s: Vec<MetricPoint> = (0..n)
            .map(|i| MetricPoint {
                step: i,
                value: (i as f64 / 5000.0).sin() * 0.1,
            })
            .collect();
        s[654_321].value = 50.0;
        let out = lttb(&s, 2000);
        assert_eq!(out.len(), 2000);
        assert_eq!(out[0], s[0]);
        assert_eq!(out[1999], s[n as usize - 1]);
        assert!(
            out.iter().any(|p| p.step == 654_321 && p.value == 50.0),
            "the spike is kept"
        );
        assert!(out.windows(2).all(|w| w[0].step < w[1].step), "in order");
    }

    #[test]
    fn non_finite_values_are_dropped_not_spread() {
        let mut values: Vec<f64> = (0..100).map(|i| i as f64).collect();
        values[0] = f64::NAN;
        values[50] = f64::INFINITY;
        values[99] = f64::NAN;
        let out = lttb(&series(&values), 10);
        assert_eq!(out.len(), 10);
        assert!(out.iter().all(|p| p.value.is_finite()));
        assert_eq!((out[0].step, out[9].step), (1, 98));
        // Few enough finite points: all of them, without the NaN.
        let out = lttb(&series(&[1.0, f64::NAN, 3.0]), 10);
        assert_eq!(steps(&out), [0, 2]);
    }
}
