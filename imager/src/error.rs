//! The one error type of the imager library. Every variant names the thing and the place, so
//! the binary can print it as it is; `is_bad_input` tells the binary which exit code it earns.

use std::path::PathBuf;

use crate::fs::FsKind;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    // The message carries the cause, so it is not also a `source` (no repeated lines).
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },

    #[error("{}: no such file", path.display())]
    NotFound { path: PathBuf },

    #[error("{}: {reason}", path.display())]
    BadImage { path: PathBuf, reason: String },

    #[error("{}: corrupt or truncated {format} data: {detail}", path.display())]
    Decompress {
        path: PathBuf,
        format: &'static str,
        detail: String,
    },

    #[error("{fs} filesystem: {path}: {detail}")]
    Fs {
        fs: FsKind,
        path: String,
        detail: String,
    },

    #[error("{fs} filesystem does not support {what} ({path})")]
    Unsupported {
        fs: FsKind,
        path: String,
        what: &'static str,
    },

    #[error("the image has no {0} partition")]
    NoSuchFilesystem(&'static str),

    #[error("file operation {} ({op} {path}): {error}", index + 1)]
    Op {
        /// 0-based position in the list; messages count from 1.
        index: usize,
        op: &'static str,
        path: String,
        error: Box<Error>,
    },

    #[error("{what}: {detail}")]
    Invalid { what: String, detail: String },

    /// A node's plan cannot be made on this base (it lacks a unit the node enables, say).
    #[error("{}: node {node}: {}", inventory.display(), without_node(error, node))]
    Plan {
        inventory: PathBuf,
        node: String,
        error: Box<Error>,
    },

    #[error("{}: no node `{node}` (nodes: {})", inventory.display(), known.join(", "))]
    NoSuchNode {
        inventory: PathBuf,
        node: String,
        known: Vec<String>,
    },

    /// Baking one node failed; the cause follows.
    #[error("node {node}")]
    Node {
        node: String,
        #[source]
        error: Box<Error>,
    },

    #[error(transparent)]
    Inventory(#[from] crate::inventory::InventoryError),

    /// apt cannot give what `packages:` asks for: no such package, version or architecture,
    /// or one that would remove a package of the base.
    #[error("packages {packages} (for {architecture}): {detail}")]
    Packages {
        packages: String,
        architecture: String,
        detail: String,
    },

    /// apt could not run or could not reach its sources (the machine's fault, not the input's).
    #[error("apt {step}: {detail}")]
    Apt { step: String, detail: String },
}

/// A feature's error already names the node ("node p1: …"); the plan's says it once.
fn without_node(error: &Error, node: &str) -> String {
    let text = error.to_string();
    match text.strip_prefix(&format!("node {node}: ")) {
        Some(rest) => rest.to_string(),
        None => text,
    }
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::NotFound {
            Error::NotFound { path }
        } else {
            Error::Io {
                path,
                error: source,
            }
        }
    }

    pub(crate) fn bad_image(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::BadImage {
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// True when the user's input is at fault (exit 2); false when the machine is (exit 3).
    pub fn is_bad_input(&self) -> bool {
        match self {
            Error::Io { .. } | Error::Apt { .. } => false,
            Error::Op { error, .. } | Error::Node { error, .. } | Error::Plan { error, .. } => {
                error.is_bad_input()
            }
            _ => true,
        }
    }
}
