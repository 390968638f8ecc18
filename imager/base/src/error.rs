//! What can go wrong building or finding a built-in base.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },

    #[error("{what}: {detail}")]
    Invalid { what: String, detail: String },

    /// The machine lacks what a build needs (the list in scripts/requirements.txt).
    #[error(transparent)]
    Host(#[from] host::PreflightError),

    #[error("cannot read the Debian mirror's indexes: {detail}")]
    Mirror { detail: String },

    #[error("the base build's {stage} stage failed ({status}); full log: {}\n{tail}", log.display())]
    BuildFailed {
        stage: String,
        status: String,
        log: PathBuf,
        tail: String,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            error,
        }
    }

    /// True when the user asked for something that is not there (an unknown recipe);
    /// false when the machine or the mirror failed.
    pub fn is_bad_input(&self) -> bool {
        matches!(self, Error::Invalid { .. })
    }
}
