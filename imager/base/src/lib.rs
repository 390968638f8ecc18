//! piimage's built-in bases: Debian arm64 images for Raspberry Pi built from a recipe in
//! `fixtures/base/` with mmdebstrap, reproducibly, and kept in the cache by content hash.

#![deny(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod build;
pub mod error;
pub mod recipe;
pub mod store;

pub use build::{Event, Options};
pub use error::{Error, Result};
pub use recipe::Recipe;
pub use store::{Entry, Manifest, Store};

/// The epoch a base is built at when `SOURCE_DATE_EPOCH` is not set: fixed, so that two
/// builds from the same package versions give the same bytes.
pub const DEFAULT_EPOCH: i64 = 1_700_000_000;
