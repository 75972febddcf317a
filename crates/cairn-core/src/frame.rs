//! An in-memory, column-major table handed from the store to the trainer and back.

use crate::dataset::DataType;

#[derive(Debug, Clone, PartialEq)]
pub enum FrameValues {
    /// Booleans, integers and floats, read as `f64`; `None` is missing.
    Numeric(Vec<Option<f64>>),
    /// Everything else, as text; `None` is missing.
    Text(Vec<Option<String>>),
}

impl FrameValues {
    pub fn len(&self) -> usize {
        match self {
            FrameValues::Numeric(v) => v.len(),
            FrameValues::Text(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Each value as text (numbers in shortest round-trip form), for labels.
    pub fn to_text(&self) -> Vec<Option<String>> {
        match self {
            FrameValues::Text(v) => v.clone(),
            FrameValues::Numeric(v) => v.iter().map(|x| x.map(format_number)).collect(),
        }
    }
}

/// Shortest round-trip text of a number, without a trailing `.0` for whole numbers.
pub fn format_number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct FrameColumn {
    pub name: String,
    pub dtype: DataType,
    pub values: FrameValues,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Frame {
    pub columns: Vec<FrameColumn>,
}

impl Frame {
    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, |c| c.values.len())
    }

    pub fn column(&self, name: &str) -> Option<&FrameColumn> {
        self.columns.iter().find(|c| c.name == name)
    }
}
