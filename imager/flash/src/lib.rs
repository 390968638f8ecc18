//! Flash: images onto cards. `target` decides whether a device may be written; `write` writes
//! the ranges of the used map, the partition table last, and reads everything back; `jobs`
//! runs many cards at once, each to its own outcome.

#![deny(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod jobs;
pub mod target;
pub mod write;

pub use jobs::{pair, refused, write_all, Job, Outcome, PairError, Progress};
pub use target::{inspect, refusals, System, Target, Transport};
pub use write::{flash, FlashError, Phase, Report};
