//! What the harness adds to a node's *test copy* (never to an image that can be flashed): the
//! control shell on a virtio serial port, enabled, and systemd timeouts for slow emulated
//! nodes. Added with the image engine's own file operations to a copy of the baked image.

use std::path::Path;

use imager::fileop::{Content, Mode};
use imager::{Epoch, FileOp, Image, Target};

use crate::{Error, Result};

const CONTROL_SCRIPT: &str = include_str!("../guest/piimage-control");
const CONTROL_UNIT: &str = include_str!("../guest/piimage-control.service");
const SYSTEM_CONF: &str = include_str!("../guest/piimage-test.conf");

/// The file operations of the test harness's guest side.
pub fn test_ops() -> Vec<FileOp> {
    let write = |path: &str, content: &str, mode: u32| FileOp::Write {
        fs: Target::Root,
        path: path.into(),
        content: Content::Text(content.into()),
        mode: Some(Mode(mode)),
        owner: None,
    };
    vec![
        write("/usr/local/sbin/piimage-control", CONTROL_SCRIPT, 0o755),
        write(
            "/etc/systemd/system/piimage-control.service",
            CONTROL_UNIT,
            0o644,
        ),
        FileOp::Symlink {
            fs: Target::Root,
            path: "/etc/systemd/system/multi-user.target.wants/piimage-control.service".into(),
            target: "/etc/systemd/system/piimage-control.service".into(),
            owner: None,
        },
        write(
            "/etc/systemd/system.conf.d/piimage-test.conf",
            SYSTEM_CONF,
            0o644,
        ),
        // The built-in base grows its root to the end of the card once, at first boot. A test
        // copy's disk is exactly the image's size, so there is nothing to grow, and growpart
        // finding that out took over two minutes of a loaded node's boot. The grow itself is
        // tested on a larger disk (tests/base_boot.rs). Other bases never read this file.
        write(
            "/var/lib/piimage/root-grown",
            "the test copy's disk is the image's size: nothing to grow\n",
            0o644,
        ),
    ]
}

/// Writes `baked` plus the harness's guest side to `copy`; `baked` is only read.
pub fn make_test_copy(baked: &Path, copy: &Path) -> Result<()> {
    let fail = |e: imager::Error| Error::Image {
        image: baked.display().to_string(),
        detail: e.to_string(),
    };
    let mut image = Image::open(baked).map_err(fail)?;
    image.apply(&test_ops(), Epoch(0)).map_err(fail)?;
    image.write_scratch_to(copy).map_err(fail)
}
