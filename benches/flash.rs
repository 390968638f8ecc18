//! Flash benchmark, in one run on the same loop-device target (a file on this disk, attached
//! with direct I/O): `dd bs=4M oflag=direct` (every byte), `bmaptool copy` (the allocated
//! extents of the image file, checked against the bmap while reading) and `piimage flash`
//! (the ranges the filesystems use, read back after) — wall time, bytes written, verified or
//! not; then piimage's aggregate throughput with 1, 2 and 4 targets at once.
//!
//!   sudo cargo bench --bench flash     (PIIMAGE_BENCH_IMAGE=FILE flashes that image instead of
//!                                      a bookworm-layout fixture with 512 MiB of data)
//!
//! Needs root (losetup). Figures are printed, never asserted.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn sh(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Loop(PathBuf);

impl Loop {
    fn attach(file: &Path, len: u64) -> Loop {
        std::fs::File::create(file).unwrap().set_len(len).unwrap();
        let dev = sh(Command::new("losetup")
            .args(["--find", "--show", "--direct-io=on"])
            .arg(file));
        Loop(PathBuf::from(dev.trim()))
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("-d").arg(&self.0).status();
    }
}

/// Drops the page cache so that every contender starts reading the image cold.
fn drop_caches() {
    let _ = Command::new("sync").status();
    let _ = std::fs::write("/proc/sys/vm/drop_caches", "3");
}

fn row(tool: &str, seconds: f64, bytes: u64, verified: &str) {
    println!(
        "  {tool:<34} {seconds:>7.1} s {:>9.0} MiB {:>8.1} MB/s  {verified}",
        bytes as f64 / 1048576.0,
        bytes as f64 / 1e6 / seconds
    );
}

fn main() {
    let image = match std::env::var_os("PIIMAGE_BENCH_IMAGE") {
        Some(path) => PathBuf::from(path),
        None => fixtures::Fixture::new("bookworm").sized(2048, 512).build(),
    };
    let len = std::fs::metadata(&image).expect("image").len();
    let scratch = tempfile::tempdir_in(image.parent().expect("image folder")).expect("scratch");
    let piimage = env!("CARGO_BIN_EXE_piimage");
    let map = imager::usedmap::used_map(&image).expect("used map");
    println!(
        "image {} ({:.0} MiB; filesystems use {:.0} MiB)",
        image.display(),
        len as f64 / 1048576.0,
        (map.data_bytes() + map.table_bytes()) as f64 / 1048576.0
    );

    let target = Loop::attach(&scratch.path().join("target.img"), len);
    println!("one target, {}:", target.0.display());

    drop_caches();
    let t = Instant::now();
    sh(Command::new("dd")
        .arg(format!("if={}", image.display()))
        .arg(format!("of={}", target.0.display()))
        .args(["bs=4M", "oflag=direct", "conv=fsync", "status=none"]));
    row(
        "dd bs=4M oflag=direct",
        t.elapsed().as_secs_f64(),
        len,
        "not verified",
    );

    let bmap = scratch.path().join("image.bmap");
    sh(Command::new("bmaptool")
        .args(["-q", "create", "-o"])
        .arg(&bmap)
        .arg(&image));
    let mapped: u64 = std::fs::read_to_string(&bmap)
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.trim().strip_prefix("<MappedBlocksCount>"))
        .and_then(|v| v.split('<').next())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0)
        * 4096;
    drop_caches();
    let t = Instant::now();
    sh(Command::new("bmaptool")
        .args(["-q", "copy", "--bmap"])
        .arg(&bmap)
        .arg(&image)
        .arg(&target.0));
    row(
        "bmaptool copy",
        t.elapsed().as_secs_f64(),
        mapped,
        "image checked against bmap; not read back",
    );

    drop_caches();
    let t = Instant::now();
    let out = sh(Command::new(piimage)
        .arg("flash")
        .arg(&image)
        .arg(&target.0)
        .args(["--yes", "--json"]));
    let seconds = t.elapsed().as_secs_f64();
    let result: serde_json::Value = serde_json::from_str::<Vec<serde_json::Value>>(&out)
        .expect("json")
        .remove(0);
    row(
        "piimage flash",
        seconds,
        result["bytes_written"].as_u64().unwrap_or(0),
        "read back and compared",
    );
    drop_caches();
    let t = Instant::now();
    sh(Command::new(piimage)
        .arg("flash")
        .arg(&image)
        .arg(&target.0)
        .args(["--yes", "--json", "--no-verify"]));
    row(
        "piimage flash --no-verify",
        t.elapsed().as_secs_f64(),
        result["bytes_written"].as_u64().unwrap_or(0),
        "not verified",
    );
    drop(target);

    println!("piimage flash, several targets at once (with verification):");
    for n in [1usize, 2, 4] {
        let loops: Vec<Loop> = (0..n)
            .map(|i| Loop::attach(&scratch.path().join(format!("t{n}-{i}.img")), len))
            .collect();
        drop_caches();
        let t = Instant::now();
        let mut cmd = Command::new(piimage);
        cmd.arg("flash").arg(&image);
        for l in &loops {
            cmd.arg(&l.0);
        }
        let out = sh(cmd.args(["--yes", "--json"]));
        let seconds = t.elapsed().as_secs_f64();
        let results: Vec<serde_json::Value> = serde_json::from_str(&out).expect("json");
        let bytes: u64 = results
            .iter()
            .map(|r| r["bytes_written"].as_u64().unwrap_or(0))
            .sum();
        println!(
            "  {n} target(s): {seconds:>6.1} s, {:>7.0} MiB written in all, aggregate {:>7.1} MB/s (writes + read-back)",
            bytes as f64 / 1048576.0,
            bytes as f64 / 1e6 / seconds
        );
    }
}
