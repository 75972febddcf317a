//! Bad inputs are refused with an error that says what is wrong and where.

use cairn_eval::{EvalError, classification, regression};

#[test]
fn classification_length_mismatch_names_both_lengths() {
    let err = classification(&[0, 1, 1], &[0.5, 0.5, 0.2, 0.8], 2).unwrap_err();
    assert_eq!(
        err,
        EvalError::LengthMismatch {
            left_name: "y_true × n_classes",
            left: 6,
            right_name: "proba",
            right: 4,
        }
    );
    let text = err.to_string();
    assert!(text.contains('6') && text.contains('4'), "{text}");
}

#[test]
fn regression_length_mismatch_names_both_lengths() {
    let err = regression(&[1.0, 2.0, 3.0], &[1.0, 2.0]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "length mismatch: y_true has 3 values but y_pred has 2; pass one value per row to both"
    );
}

#[test]
fn empty_inputs_are_refused() {
    assert_eq!(
        classification(&[], &[], 3).unwrap_err(),
        EvalError::Empty { input: "y_true" }
    );
    assert_eq!(
        regression(&[], &[]).unwrap_err(),
        EvalError::Empty { input: "y_true" }
    );
}

#[test]
fn fewer_than_two_classes_is_refused() {
    let err = classification(&[0, 0], &[1.0, 1.0], 1).unwrap_err();
    assert_eq!(err, EvalError::TooFewClasses { n_classes: 1 });
    assert!(err.to_string().contains("at least 2 classes"));
}

#[test]
fn class_index_out_of_range_names_the_row() {
    let err = classification(&[0, 2, 1], &[0.5, 0.5, 0.5, 0.5, 0.5, 0.5], 2).unwrap_err();
    assert_eq!(
        err,
        EvalError::ClassOutOfRange {
            row: 1,
            class: 2,
            n_classes: 2
        }
    );
    assert!(
        err.to_string().starts_with("y_true row 1 is class 2"),
        "{err}"
    );
}

#[test]
fn non_finite_values_name_the_row() {
    let err = classification(&[0, 1], &[0.5, 0.5, f64::NAN, 0.5], 2).unwrap_err();
    assert_eq!(
        err.to_string(),
        "proba row 1, class 0 is NaN; every value must be finite"
    );

    let err = regression(&[1.0, 2.0, 3.0], &[1.0, f64::INFINITY, 3.0]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "y_pred row 1 is inf; every value must be finite"
    );
    let err = regression(&[1.0, f64::NEG_INFINITY], &[1.0, 2.0]).unwrap_err();
    assert!(matches!(
        err,
        EvalError::NotFinite {
            input: "y_true",
            row: 1,
            column: None,
            ..
        }
    ));
}

#[test]
fn probabilities_outside_zero_one_are_refused() {
    let err = classification(&[0, 1], &[0.5, 0.5, -0.25, 1.25], 2).unwrap_err();
    assert_eq!(
        err,
        EvalError::ProbabilityOutOfRange {
            row: 1,
            class: 0,
            value: -0.25
        }
    );
}

#[test]
fn argmax_ties_go_to_the_first_class() {
    let m = classification(
        &[1, 2, 0],
        &[0.4, 0.4, 0.2, 0.2, 0.4, 0.4, 0.3, 0.3, 0.4],
        3,
    )
    .unwrap();
    assert_eq!(
        m.confusion_matrix,
        vec![vec![0, 0, 1], vec![1, 0, 0], vec![0, 1, 0]]
    );
    assert_eq!(m.accuracy, 0.0);
}

#[test]
fn single_row_regression_has_no_r2() {
    let m = regression(&[3.5], &[4.0]).unwrap();
    assert_eq!(m.r2, None);
    assert_eq!(m.rmse, 0.5);
}
