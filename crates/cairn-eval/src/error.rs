//! What can be wrong with the numbers handed to the metrics.

/// Why a metric could not be computed from its inputs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// Two inputs that must describe the same rows have different lengths.
    #[error(
        "length mismatch: {left_name} has {left} values but {right_name} has {right}; \
         pass one value per row to both"
    )]
    LengthMismatch {
        left_name: &'static str,
        left: usize,
        right_name: &'static str,
        right: usize,
    },
    /// There are no rows to evaluate.
    #[error("no rows to evaluate: {input} is empty; evaluate on at least one row")]
    Empty { input: &'static str },
    /// Classification needs at least two classes.
    #[error("n_classes is {n_classes}; classification needs at least 2 classes")]
    TooFewClasses { n_classes: usize },
    /// A true class index is not below `n_classes`.
    #[error(
        "y_true row {row} is class {class}, but there are only {n_classes} classes \
         (indices 0..{n_classes}); encode classes as 0..n_classes"
    )]
    ClassOutOfRange {
        row: usize,
        class: u32,
        n_classes: usize,
    },
    /// An input value is NaN or infinite.
    #[error("{input} row {row}{} is {value}; every value must be finite", column_suffix(.column))]
    NotFinite {
        input: &'static str,
        row: usize,
        /// The class column, for the row-major probability matrix.
        column: Option<usize>,
        value: f64,
    },
    /// A class probability lies outside `[0, 1]`.
    #[error(
        "proba row {row}, class {class} is {value}; probabilities must lie in [0, 1] \
         (pass predict_proba output, not logits or decision scores)"
    )]
    ProbabilityOutOfRange {
        row: usize,
        class: usize,
        value: f64,
    },
}

fn column_suffix(column: &Option<usize>) -> String {
    match column {
        Some(class) => format!(", class {class}"),
        None => String::new(),
    }
}
