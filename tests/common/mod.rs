//! What the CLI tests share: running the binary with a private cache, and output redaction.

#![allow(dead_code)] // each test file uses its own part of this

use std::path::Path;
use std::process::Output;

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `piimage ARGS` with the cache in `cache` and no terminal.
pub fn piimage(cache: &Path, args: &[&str]) -> Run {
    piimage_with(cache, args, &[])
}

pub fn piimage_with(cache: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_piimage"));
    cmd.args(args)
        .env("PIIMAGE_CACHE_DIR", cache)
        .env_remove("SOURCE_DATE_EPOCH");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("piimage runs");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Replaces `path` in `text` with `name`, so snapshots do not depend on temp directories.
pub fn redact(text: &str, path: &Path, name: &str) -> String {
    text.replace(&path.display().to_string(), name)
}
