//! Exit codes, in one place. 0 success; 1 a test step failed; 2 bad input (the message names
//! the file and the problem); 3 the machine or harness failed (I/O, QEMU, timeouts).

use std::process::ExitCode;

pub const OK: u8 = 0;
/// A test step failed; for flash, some card failed while the others finished.
pub const STEP_FAILED: u8 = 1;
pub const BAD_INPUT: u8 = 2;
pub const INFRASTRUCTURE: u8 = 3;

/// Prints a failed command's error chain to stderr and picks its exit code.
pub fn report(result: anyhow::Result<()>) -> ExitCode {
    let Err(err) = result else {
        return ExitCode::from(OK);
    };
    let code = classify(&err);
    eprintln!("error: {err}");
    for cause in err.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
    ExitCode::from(code)
}

fn classify(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<imager::Error>() {
            return if e.is_bad_input() {
                BAD_INPUT
            } else {
                INFRASTRUCTURE
            };
        }
        if let Some(e) = cause.downcast_ref::<base::Error>() {
            return if e.is_bad_input() {
                BAD_INPUT
            } else {
                INFRASTRUCTURE
            };
        }
        if cause.downcast_ref::<BadInput>().is_some() {
            return BAD_INPUT;
        }
        if cause.downcast_ref::<SomeFailed>().is_some() {
            return STEP_FAILED;
        }
    }
    INFRASTRUCTURE
}

/// An error in what the user gave us that is not the library's to find (a malformed file
/// of operations, say).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

/// Some of several independent jobs failed (flash: some cards); each was reported already.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SomeFailed(pub String);
