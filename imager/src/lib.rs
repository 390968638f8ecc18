//! The image engine of piimage: open Raspberry Pi SD images as users download them, read
//! their partition tables, and edit their FAT boot and ext4 root filesystems in user space
//! (no root, no mount, no loop device) through a copy-on-write view of the base.

#![deny(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod bake;
pub mod bootfiles;
pub mod clock;
pub mod cow;
pub mod digest;
pub mod disk;
pub mod error;
pub mod fileop;
pub mod first_boot;
pub mod flavour;
pub mod fs;
pub mod image;
pub mod inspect;
pub mod inventory;
pub mod listing;
pub mod manifest;
pub mod packages;
pub mod pki;
pub mod plan;
pub mod prepare;
pub mod probe;
pub mod secret;
pub mod source;
pub mod sparse;
pub mod usedmap;
pub mod window;
mod yaml_error;

pub use clock::Epoch;
pub use error::{Error, Result};
pub use fileop::{FileOp, Target};
pub use image::Image;
