use std::fmt;

/// Errors from the store. Each says what went wrong and, where it can, what to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error while {context}: {source}")]
    Db {
        context: String,
        #[source]
        source: duckdb::Error,
    },
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error("{what} was not found{hint}")]
    NotFound { what: String, hint: String },
    #[error("{0}")]
    Invalid(String),
    #[error("cancelled; nothing was written")]
    Cancelled,
    /// A version others still depend on; `--force` deletes it anyway.
    #[error("{0}")]
    InUse(String),
    #[error(
        "the workspace database has schema version {found}, newer than this Cairn understands ({supported}); upgrade Cairn"
    )]
    TooNew { found: u32, supported: u32 },
}

impl StoreError {
    pub(crate) fn db(context: impl Into<String>, source: duckdb::Error) -> Self {
        StoreError::Db {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn not_found(what: impl Into<String>, hint: impl Into<String>) -> Self {
        let hint = hint.into();
        let hint = if hint.is_empty() {
            hint
        } else {
            format!("; {hint}")
        };
        StoreError::NotFound {
            what: what.into(),
            hint,
        }
    }
}

/// A file that could not be imported: which file, where in it, what was wrong, what to do.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportError {
    /// The file as the user named it.
    pub file: String,
    /// 1-based line of the problem, when known.
    pub line: Option<u64>,
    /// The column (name or 1-based number) of the problem, when known.
    pub column: Option<String>,
    pub reason: String,
    pub hint: String,
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot import {}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ", line {line}")?;
        }
        if let Some(col) = &self.column {
            write!(f, ", column {col}")?;
        }
        write!(f, ": {}", self.reason)?;
        if !self.hint.is_empty() {
            write!(f, " ({})", self.hint)?;
        }
        Ok(())
    }
}

impl std::error::Error for ImportError {}
