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

/// piimage's own cache (PIIMAGE_CACHE_DIR, else ~/.cache/piimage): where built-in bases and
/// test bakes are kept by content hash, shared by the tests that boot them.
pub fn shared_cache() -> std::path::PathBuf {
    std::env::var_os("PIIMAGE_CACHE_DIR")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cache/piimage"))
        })
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("piimage-cache")
        })
}

/// The lab stack's container images the scenario inventories carry
/// (`scenarios/inventories/images/`), built from Debian arm64 packages by
/// fixtures/images/build.sh, which rebuilds nothing while its recipe is unchanged.
pub fn lab_images() -> std::path::PathBuf {
    let repo = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let images = repo.join("scenarios/inventories/images");
    let built = std::process::Command::new("bash")
        .arg(repo.join("fixtures/images/build.sh"))
        .arg(&images)
        .status()
        .unwrap();
    assert!(built.success(), "fixtures/images/build.sh failed");
    images
}

/// Replaces `path` in `text` with `name`, so snapshots do not depend on temp directories.
pub fn redact(text: &str, path: &Path, name: &str) -> String {
    text.replace(&path.display().to_string(), name)
}

/// The example lab inventory's text (fixtures/inventories/lab.yaml).
pub fn lab_text() -> String {
    std::fs::read_to_string(fixtures::recipe_dir().join("inventories/lab.yaml")).unwrap()
}

/// An inventory `text` in a folder of its own with the files it names (its sources, a fixed
/// cluster secret so host keys and snapshots are the same on every run) and `base.img`
/// linked to the fixture of `flavour`.
///
/// Its `packages:` come from the test apt repository (fixtures/repo/) instead of the base's
/// own sources, which would need the network. On HypriotOS, which has docker-ce (whose
/// Conflicts: docker.io apt would resolve by removing it), the lab asks only for fail2ban.
pub fn stage_lab(text: &str, flavour: &'static str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("lab.yaml");
    std::fs::write(&inventory, for_fixture(text, flavour)).unwrap();
    for extra in ["start_pipes.sh", "logo.png"] {
        std::fs::copy(
            fixtures::recipe_dir().join("inventories").join(extra),
            dir.path().join(extra),
        )
        .unwrap();
    }
    std::fs::write(
        dir.path().join("lab.secret"),
        format!("{}\n", "5e".repeat(32)),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        fixtures::Fixture::new(flavour).build(),
        dir.path().join("base.img"),
    )
    .unwrap();
    (dir, inventory)
}

/// An inventory's text with its packages from the test apt repository (see `stage_lab`).
pub fn for_fixture(text: &str, flavour: &str) -> String {
    let mut text = text.to_string();
    if flavour == "hypriot" {
        text = text.replace("packages: [docker.io, ", "packages: [");
    }
    if text.contains("packages:") && !text.contains("\napt:") {
        text.push_str(&format!(
            "apt: {{ sources: [\"{}\"] }}\n",
            fixtures::apt_source("bookworm")
        ));
    }
    text
}

/// Bakes a staged inventory (`stage_lab`) into `DIR/OUT` at a fixed instant, with `extra`
/// arguments; it must succeed.
pub fn bake_staged(
    dir: &Path,
    inventory: &Path,
    out: &str,
    extra: &[&str],
) -> (Run, std::path::PathBuf) {
    let out = dir.join(out);
    let mut args = vec![
        "bake",
        "-c",
        inventory.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let run = piimage_with(
        &dir.join("cache"),
        &args,
        &[("SOURCE_DATE_EPOCH", "1700000000")],
    );
    assert_eq!(run.code, 0, "{}: {}", inventory.display(), run.stderr);
    (run, out)
}
