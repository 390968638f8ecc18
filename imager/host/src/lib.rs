//! What piimage needs from the machine it runs on. One list (`scripts/requirements.txt`)
//! names every program the code and the scripts run, its Debian package and suite, the
//! lowest version that works and which command needs it; install.sh installs from it,
//! `piimage doctor` reports it, and each command's preflight refuses early with the same
//! words doctor uses.

#![deny(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod list;
pub mod probe;
pub mod report;

pub use list::{Need, Requirement, Suite};
pub use report::{preflight, Finding, PreflightError, Probe, Report, State, Unmet};
