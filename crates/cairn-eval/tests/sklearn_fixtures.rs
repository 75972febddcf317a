//! Every metric equals scikit-learn's on the cases in `fixtures/sklearn_metrics.json`, which
//! `fixtures/make_fixtures.py` wrote with scikit-learn (versions recorded in the file). Figures
//! agree within 1e-9 absolute; confusion matrices and supports exactly; undefined figures
//! (`null` in the file) are `None` here. No Python is needed to run this test.

use cairn_eval::{ClassificationMetrics, RegressionMetrics, classification, regression};
use serde::Deserialize;

const TOLERANCE: f64 = 1e-9;

#[derive(Deserialize)]
struct Fixture {
    format_version: u32,
    versions: serde_json::Map<String, serde_json::Value>,
    tolerance_abs: f64,
    classification: Vec<ClassificationCase>,
    regression: Vec<RegressionCase>,
    known_deviations: Vec<KnownDeviation>,
}

#[derive(Deserialize)]
struct ClassificationCase {
    name: String,
    n_classes: usize,
    y_true: Vec<u32>,
    proba: Vec<Vec<f64>>,
    expected: ClassificationMetrics,
}

#[derive(Deserialize)]
struct RegressionCase {
    name: String,
    y_true: Vec<f64>,
    y_pred: Vec<f64>,
    expected: RegressionMetrics,
}

#[derive(Deserialize)]
struct KnownDeviation {
    name: String,
    y_true: Vec<f64>,
    y_pred: Vec<f64>,
    sklearn_r2: f64,
    cairn_r2: f64,
}

fn fixture() -> Fixture {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/sklearn_metrics.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let fixture: Fixture =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"));
    assert_eq!(fixture.format_version, 1);
    assert_eq!(fixture.tolerance_abs, TOLERANCE);
    assert!(fixture.versions.contains_key("scikit-learn"));
    fixture
}

/// Collects every disagreement of one case, so a failure lists them all at once.
struct Comparison {
    case: String,
    failures: Vec<String>,
}

impl Comparison {
    fn new(case: &str) -> Self {
        Self {
            case: case.to_owned(),
            failures: Vec::new(),
        }
    }

    fn close(&mut self, field: &str, ours: f64, sklearn: f64) {
        if (ours - sklearn).abs() > TOLERANCE || ours.is_nan() {
            self.failures.push(format!(
                "{field}: cairn {ours:?}, scikit-learn {sklearn:?} (difference {:e})",
                ours - sklearn
            ));
        }
    }

    fn close_opt(&mut self, field: &str, ours: Option<f64>, sklearn: Option<f64>) {
        match (ours, sklearn) {
            (Some(a), Some(b)) => self.close(field, a, b),
            (None, None) => {}
            _ => self
                .failures
                .push(format!("{field}: cairn {ours:?}, scikit-learn {sklearn:?}")),
        }
    }

    fn equal<T: PartialEq + std::fmt::Debug>(&mut self, field: &str, ours: &T, sklearn: &T) {
        if ours != sklearn {
            self.failures
                .push(format!("{field}: cairn {ours:?}, scikit-learn {sklearn:?}"));
        }
    }

    fn report(self) -> Vec<String> {
        self.failures
            .into_iter()
            .map(|f| format!("{}: {f}", self.case))
            .collect()
    }
}

fn compare_classification(case: &ClassificationCase) -> Vec<String> {
    let proba: Vec<f64> = case.proba.iter().flatten().copied().collect();
    let ours = classification(&case.y_true, &proba, case.n_classes)
        .unwrap_or_else(|e| panic!("{}: {e}", case.name));
    let want = &case.expected;
    let mut cmp = Comparison::new(&case.name);
    cmp.close("accuracy", ours.accuracy, want.accuracy);
    cmp.close(
        "balanced_accuracy",
        ours.balanced_accuracy,
        want.balanced_accuracy,
    );
    cmp.close(
        "precision_macro",
        ours.precision_macro,
        want.precision_macro,
    );
    cmp.close("recall_macro", ours.recall_macro, want.recall_macro);
    cmp.close("f1_macro", ours.f1_macro, want.f1_macro);
    cmp.close(
        "precision_weighted",
        ours.precision_weighted,
        want.precision_weighted,
    );
    cmp.close(
        "recall_weighted",
        ours.recall_weighted,
        want.recall_weighted,
    );
    cmp.close("f1_weighted", ours.f1_weighted, want.f1_weighted);
    cmp.equal(
        "per_class.len()",
        &ours.per_class.len(),
        &want.per_class.len(),
    );
    for (c, (a, b)) in ours.per_class.iter().zip(&want.per_class).enumerate() {
        cmp.close(
            &format!("per_class[{c}].precision"),
            a.precision,
            b.precision,
        );
        cmp.close(&format!("per_class[{c}].recall"), a.recall, b.recall);
        cmp.close(&format!("per_class[{c}].f1"), a.f1, b.f1);
        cmp.equal(&format!("per_class[{c}].support"), &a.support, &b.support);
    }
    cmp.close_opt("roc_auc", ours.roc_auc, want.roc_auc);
    cmp.close_opt("pr_auc", ours.pr_auc, want.pr_auc);
    cmp.close("log_loss", ours.log_loss, want.log_loss);
    cmp.close("brier", ours.brier, want.brier);
    cmp.equal(
        "confusion_matrix",
        &ours.confusion_matrix,
        &want.confusion_matrix,
    );
    cmp.report()
}

fn compare_regression(case: &RegressionCase) -> Vec<String> {
    let ours =
        regression(&case.y_true, &case.y_pred).unwrap_or_else(|e| panic!("{}: {e}", case.name));
    let want = &case.expected;
    let mut cmp = Comparison::new(&case.name);
    cmp.close("rmse", ours.rmse, want.rmse);
    cmp.close("mae", ours.mae, want.mae);
    cmp.close_opt("r2", ours.r2, want.r2);
    cmp.close("mape", ours.mape, want.mape);
    cmp.report()
}

#[test]
fn classification_metrics_equal_scikit_learn() {
    let fixture = fixture();
    assert!(fixture.classification.len() >= 10);
    let failures: Vec<String> = fixture
        .classification
        .iter()
        .flat_map(compare_classification)
        .collect();
    assert!(
        failures.is_empty(),
        "{} disagreements with scikit-learn {}:\n{}",
        failures.len(),
        fixture.versions["scikit-learn"],
        failures.join("\n")
    );
}

#[test]
fn regression_metrics_equal_scikit_learn() {
    let fixture = fixture();
    assert!(fixture.regression.len() >= 5);
    let failures: Vec<String> = fixture
        .regression
        .iter()
        .flat_map(compare_regression)
        .collect();
    assert!(
        failures.is_empty(),
        "{} disagreements with scikit-learn {}:\n{}",
        failures.len(),
        fixture.versions["scikit-learn"],
        failures.join("\n")
    );
}

/// The one place Cairn differs on purpose: a constant target whose numpy mean is off by an ulp.
#[test]
fn known_deviations_hold() {
    for deviation in fixture().known_deviations {
        let ours = regression(&deviation.y_true, &deviation.y_pred).unwrap();
        assert_eq!(ours.r2, Some(deviation.cairn_r2), "{}", deviation.name);
        assert!(
            deviation.sklearn_r2 < -1e20,
            "{}: scikit-learn no longer gives a huge negative R² ({}); drop the deviation",
            deviation.name,
            deviation.sklearn_r2
        );
    }
}

/// The expected blocks deserialise into Cairn's own types, so the serde field names are the
/// fixture's names; a metric serialised and read back is unchanged.
#[test]
fn metrics_round_trip_through_json() {
    let fixture = fixture();
    let case = &fixture.classification[0];
    let json = serde_json::to_string(&case.expected).unwrap();
    let back: ClassificationMetrics = serde_json::from_str(&json).unwrap();
    assert_eq!(back, case.expected);
    let flat = case.expected.flat("val_");
    assert_eq!(flat["val_accuracy"], case.expected.accuracy);
    assert_eq!(flat.len(), 12);
    let undefined = fixture
        .classification
        .iter()
        .find(|c| c.expected.roc_auc.is_none())
        .expect("a case with an undefined ROC AUC");
    let flat = undefined.expected.flat("");
    assert!(!flat.contains_key("roc_auc") && flat.contains_key("log_loss"));

    let single = fixture
        .regression
        .iter()
        .find(|c| c.expected.r2.is_none())
        .expect("a case with an undefined R²");
    let flat = single.expected.flat("test/");
    assert_eq!(
        flat.keys().collect::<Vec<_>>(),
        ["test/mae", "test/mape", "test/rmse"]
    );
}
