//! QEMU machines launched with `std::process`: a Raspberry Pi image booted on `-M virt` with
//! the kernel and initramfs from its own boot partition, its serial console captured line by
//! line. The scenario runner, networks and faults build on this.

#![deny(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod cluster;
pub mod console;
pub mod control;
pub mod guest;
pub mod machine;
pub mod qmp;
pub mod scenario;
pub mod switch;

pub use console::Console;
pub use machine::{Machine, MachineSpec};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// What QEMU needs from the machine is not all there (scripts/requirements.txt).
    #[error(transparent)]
    Missing(#[from] host::PreflightError),
    #[error("{what}: {error}")]
    Io {
        what: String,
        #[source]
        error: std::io::Error,
    },
    #[error("{program} failed: {detail}")]
    Command { program: String, detail: String },
    #[error("{image}: {detail}")]
    Image { image: String, detail: String },
    #[error("QMP: {0}")]
    Qmp(String),
    #[error("control channel: {0}")]
    Control(String),
    #[error("no answer from the node within {seconds} s (is it paused, or hung?)")]
    NoAnswer { seconds: u64 },
    #[error(
        "timed out after {seconds} s waiting for {waiting_for}; the console's last lines:\n{tail}"
    )]
    Timeout {
        seconds: u64,
        waiting_for: String,
        tail: String,
    },
    #[error("the machine stopped ({status}) while waiting for {waiting_for}; the console's last lines:\n{tail}")]
    Exited {
        status: String,
        waiting_for: String,
        tail: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Connects to a unix socket QEMU makes as it starts, trying again until `patience` is over.
pub(crate) fn connect_when_there(
    path: &std::path::Path,
    patience: std::time::Duration,
    what: &str,
) -> Result<std::os::unix::net::UnixStream> {
    let deadline = std::time::Instant::now() + patience;
    loop {
        match std::os::unix::net::UnixStream::connect(path) {
            Ok(s) => return Ok(s),
            Err(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(50))
            }
            Err(error) => {
                return Err(Error::Io {
                    what: format!("{what} {}", path.display()),
                    error,
                })
            }
        }
    }
}
