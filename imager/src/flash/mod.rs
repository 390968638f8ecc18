//! Flash: images onto cards. `target` decides whether a device may be written; `write` writes
//! the ranges of the used map, the partition table last, and reads everything back.

pub mod target;
pub mod write;

pub use target::{inspect, refusals, System, Target, Transport};
pub use write::{flash, FlashError, Phase, Report};
