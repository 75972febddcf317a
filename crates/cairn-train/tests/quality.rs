//! The quality bar on the shipped data: held-out test split, seed 42, default params unless
//! stated. scikit-learn's figures on the very same test rows come from
//! `fixtures/make_reference.py` (committed output: `fixtures/sklearn_reference.json`).

mod common;

use cairn_train::ModelKind;
use common::{accuracy, fit, r2, read_csv, spec};

fn reference() -> serde_json::Value {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/sklearn_reference.json"),
    )
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn same_test_rows(case: &str, rows: &[usize]) {
    let want: Vec<usize> =
        serde_json::from_value(reference()["cases"][case]["test_rows"].clone()).unwrap();
    assert_eq!(
        rows, want,
        "{case}: Cairn's split and the reference script's split differ"
    );
}

#[test]
fn logistic_regression_on_breast_cancer() {
    let out = fit(
        &read_csv("breast_cancer.csv"),
        "target",
        &spec(ModelKind::Logistic, 42, &[]),
    );
    same_test_rows("breast_cancer_logistic", &out.test_rows);
    let acc = accuracy(&out);
    eprintln!(
        "breast cancer logistic: {acc:.4} (sklearn {})",
        reference()["cases"]["breast_cancer_logistic"]["accuracy"]
    );
    assert!(acc >= 0.95, "accuracy {acc}");
}

#[test]
fn linear_regression_on_diabetes_matches_scikit_learn() {
    let out = fit(
        &read_csv("diabetes.csv"),
        "target",
        &spec(ModelKind::Linear, 42, &[]),
    );
    same_test_rows("diabetes_linear", &out.test_rows);
    let ours = r2(&out);
    let theirs = reference()["cases"]["diabetes_linear"]["r2"]
        .as_f64()
        .unwrap();
    eprintln!("diabetes linear R²: {ours:.4} (sklearn {theirs:.4})");
    assert!(
        (ours - theirs).abs() <= 0.01,
        "R² {ours} vs scikit-learn {theirs}"
    );
}

#[test]
fn mlp_on_digits() {
    let out = fit(
        &read_csv("digits.csv"),
        "target",
        &spec(ModelKind::Mlp, 42, &[]),
    );
    same_test_rows("digits_logistic", &out.test_rows);
    let acc = accuracy(&out);
    eprintln!("digits MLP: {acc:.4}");
    assert!(acc >= 0.96, "accuracy {acc}");
}

#[test]
fn cnn_on_digits() {
    let out = fit(
        &read_csv("digits.csv"),
        "target",
        &spec(ModelKind::Cnn, 42, &[]),
    );
    let acc = accuracy(&out);
    eprintln!("digits CNN: {acc:.4}");
    assert!(acc >= 0.97, "accuracy {acc}");
}

#[test]
fn penguins_species_with_missing_values() {
    let frame = read_csv("penguins.csv");
    let out = fit(&frame, "species", &spec(ModelKind::Logistic, 42, &[]));
    let acc = accuracy(&out);
    eprintln!("penguins logistic: {acc:.4}");
    assert!(acc >= 0.97, "accuracy {acc}");
}
