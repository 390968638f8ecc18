//! Packages benchmark: `packages: [docker.io, fail2ban, python3-systemd]` added to the lite
//! built-in base, side by side with the way sdm and pi-gen add packages (apt-get install in a
//! chroot of the image's root under qemu-user, as root), in one run on this machine:
//!
//! - piimage, cold: apt against the image's world (update, resolve, fetch from the mirror),
//!   then the bake of one node carrying the `.deb`s;
//! - piimage, warm: the same bake again, from the cache (no apt, no network);
//! - reference: `apt-get update && apt-get install` of the same packages in a chroot of the
//!   same base's root (what the card does at first boot, done on this machine instead).
//!
//!   sudo cargo bench --bench packages     (the reference needs root and qemu-user binfmt)
//!
//! Figures are printed, never asserted. Needs the lite base (built on first use) and Debian's
//! mirror.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn piimage(cache: &Path, args: &[&str]) -> (Duration, String) {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_piimage"))
        .args(args)
        .env("PIIMAGE_CACHE_DIR", cache)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .expect("piimage runs");
    assert!(
        out.status.success(),
        "piimage {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        start.elapsed(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn main() {
    let scratch = tempfile::tempdir().expect("scratch");
    let shared = std::env::var_os("PIIMAGE_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/piimage")))
        .expect("a cache directory");
    eprintln!("the lite base (built on first use)…");
    let (_, json) = piimage(&shared, &["base", "build", "--variant", "lite", "--json"]);
    let manifest: serde_json::Value = serde_json::from_str(&json).expect("manifest");
    let base = PathBuf::from(manifest["path"].as_str().expect("path"));
    let rootfs = base.with_file_name("rootfs.tar");

    // The probe inventory on a path base, so that its packages cache is this run's own.
    let text =
        std::fs::read_to_string(fixtures::recipe_dir().join("inventories/packages-probe.yaml"))
            .expect("inventory")
            .replace(
                "base: builtin:debian-bookworm-arm64-lite",
                "base: ./base.img",
            );
    let inventory = scratch.path().join("packages.yaml");
    std::fs::write(&inventory, text).expect("inventory");
    std::os::unix::fs::symlink(&base, scratch.path().join("base.img")).expect("base link");
    let cache = scratch.path().join("cache");
    let bake = |out: &str| {
        piimage(
            &cache,
            &[
                "bake",
                "-c",
                inventory.to_str().unwrap(),
                "-o",
                scratch.path().join(out).to_str().unwrap(),
            ],
        )
        .0
    };
    eprintln!("piimage bake, cold then warm…");
    let cold = bake("cold");
    let warm = bake("warm");
    let carried: u64 = std::fs::read_dir(cache.join("packages/debs"))
        .expect("the package cache")
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();

    eprintln!("reference: apt-get install in a qemu-user chroot of the same root…");
    let root = scratch.path().join("root");
    std::fs::create_dir_all(&root).expect("root");
    let unpacked = Command::new("tar")
        .arg("-xf")
        .arg(&rootfs)
        .arg("-C")
        .arg(&root)
        .status()
        .expect("tar runs")
        .success();
    let start = Instant::now();
    // The base's resolv.conf is a link to systemd-resolved's stub; the chroot uses the host's.
    let _ = std::fs::remove_file(root.join("etc/resolv.conf"));
    let installed = unpacked
        && std::fs::copy("/etc/resolv.conf", root.join("etc/resolv.conf")).is_ok()
        && Command::new("chroot")
            .arg(&root)
            .args([
                "sh",
                "-c",
                "printf '#!/bin/sh\\nexit 101\\n' >/usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d && \
                 apt-get -qq update && DEBIAN_FRONTEND=noninteractive apt-get -qq install -y --no-install-recommends \
                 -o Dpkg::Use-Pty=false docker.io fail2ban python3-systemd >/dev/null 2>&1",
            ])
            .status()
            .is_ok_and(|s| s.success());
    let chroot = start.elapsed();

    println!();
    println!(
        "lite base + docker.io, fail2ban, python3-systemd ({:.1} MiB of .debs)",
        carried as f64 / (1 << 20) as f64
    );
    println!("{:<78} {:>9}", "", "wall time");
    println!(
        "{:<78} {:>7.1} s",
        "piimage bake, cold cache: apt resolve + fetch on the host, no root",
        cold.as_secs_f64()
    );
    println!(
        "{:<78} {:>7.1} s",
        "piimage bake, warm cache: no apt, no network",
        warm.as_secs_f64()
    );
    if installed {
        println!(
            "{:<78} {:>7.1} s",
            "reference (sdm, pi-gen): apt-get update + install in a qemu-user chroot, root",
            chroot.as_secs_f64()
        );
    } else {
        println!(
            "reference: the chroot install could not run here (needs root and qemu-user binfmt)"
        );
    }
    println!("(piimage's card then installs at first boot: tests/base_boot.rs reports how long)");
}
