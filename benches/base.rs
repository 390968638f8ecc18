//! Built-in base benchmark: build time cold (empty cache) and cached, image size and the bytes
//! it holds, and boot-to-ready time in QEMU (`-M virt`, 2 vCPUs, TCG) of a node baked from it.
//!
//!   sudo cargo bench --bench base     (PIIMAGE_BENCH_CACHE=DIR: use and keep that cache; a build
//!                                     already there makes the cold figure unavailable)
//!
//! Figures are printed, never asserted.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn piimage(cache: &Path, args: &[&str]) -> (f64, String) {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_piimage"))
        .args(args)
        .env("PIIMAGE_CACHE_DIR", cache)
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .expect("piimage runs");
    let seconds = started.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "piimage {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (seconds, String::from_utf8_lossy(&out.stdout).into_owned())
}

fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / 1048576.0)
}

/// Blocks in use in the ext4 root, from dumpe2fs's superblock summary.
fn ext4_used(image: &Path) -> u64 {
    let part = fixtures::extract(image, 2);
    let out = Command::new("dumpe2fs")
        .arg("-h")
        .arg(part.path())
        .output()
        .expect("dumpe2fs");
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    (field("Block count:") - field("Free blocks:")) * field("Block size:")
}

fn main() {
    let scratch = tempfile::tempdir().expect("scratch");
    // The cache: PIIMAGE_BENCH_CACHE (kept), else a temporary one. The first build into a
    // cache without this recipe's build is the cold one.
    let cache = std::env::var_os("PIIMAGE_BENCH_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| scratch.path().join("cache"));
    let listed = piimage(&cache, &["base", "list", "--json"]).1;
    let cold = if listed.contains("\"current_recipe\": true") {
        None
    } else {
        eprintln!("cold build into {} (takes minutes)…", cache.display());
        Some(piimage(&cache, &["base", "build", "--json"]).0)
    };
    let (cached, json) = piimage(&cache, &["base", "build", "--json"]);
    let manifest: serde_json::Value = serde_json::from_str(&json).expect("manifest");
    let image = PathBuf::from(manifest["path"].as_str().expect("path"));

    eprintln!("baking and booting a node…");
    let inventory = scratch.path().join("boot-probe.yaml");
    std::fs::copy(
        fixtures::recipe_dir().join("inventories/boot-probe.yaml"),
        &inventory,
    )
    .expect("inventory");
    let images = scratch.path().join("images");
    piimage(
        &cache,
        &[
            "bake",
            "-c",
            inventory.to_str().unwrap(),
            "-o",
            images.to_str().unwrap(),
        ],
    );
    let node = images.join("probe1.img");
    let boot = imager::bootfiles::extract(&node, scratch.path()).expect("boot files");
    let mut machine = qemu::Machine::launch(qemu::MachineSpec {
        name: "probe1".into(),
        image: node,
        kernel: boot.kernel,
        initrd: boot.initrd.expect("initrd"),
        cmdline: boot.cmdline,
        memory_mib: 2048,
        cpus: 2,
        network: Vec::new(),
        disk_size: None,
        work_dir: scratch.path().join("qemu"),
        socket_dir: None,
        allow_reboot: false,
    })
    .expect("qemu");
    let first_line = |l: &str| l.contains("Booting Linux") || l.contains("Linux version");
    machine
        .wait_for("the kernel", Duration::from_secs(120), &first_line)
        .expect("kernel starts");
    let kernel_at = machine.started.elapsed().as_secs_f64();
    let uptime = machine
        .wait_for("the probe", Duration::from_secs(900), &|l| {
            l.contains("piimage-probe: uptime")
        })
        .expect("probe");
    let ready_at = machine.started.elapsed().as_secs_f64();
    let guest_uptime = uptime.rsplit(' ').next().unwrap_or("?").to_string();
    machine
        .wait_for("the probe's end", Duration::from_secs(300), &|l| {
            l.contains("piimage-probe: done")
        })
        .expect("probe done");
    let lines = machine.console.lines();
    let report: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.split_once("piimage-probe: ").map(|(_, r)| r))
        .collect();

    println!(
        "built-in base {} (key {})",
        manifest["name"], manifest["key"]
    );
    match cold {
        Some(s) => println!(
            "  build, cold (empty cache)       {s:>8.1} s  (bootstrap {:.0} s, assemble {:.0} s)",
            manifest["timings"]["bootstrap_seconds"]
                .as_f64()
                .unwrap_or(0.0),
            manifest["timings"]["assemble_seconds"]
                .as_f64()
                .unwrap_or(0.0)
        ),
        None => println!(
            "  build, cold                      (not measured: the cache already held this build)"
        ),
    }
    println!("  build, cached (asks the mirror)  {cached:>8.1} s");
    println!(
        "  image size                       {:>10}",
        mib(manifest["image"]["size_bytes"].as_u64().unwrap_or(0))
    );
    println!(
        "  data held (written when flashed) {:>10}",
        mib(manifest["image"]["data_bytes"].as_u64().unwrap_or(0))
    );
    println!(
        "  ext4 root used                   {:>10}",
        mib(ext4_used(&image))
    );
    println!(
        "  packages                         {:>10}",
        manifest["packages"].as_array().map_or(0, Vec::len)
    );
    println!("  QEMU boot: kernel's first line   {kernel_at:>8.1} s");
    println!(
        "  QEMU boot: services ready        {ready_at:>8.1} s  (guest uptime {guest_uptime} s)"
    );
    println!("  probe: {}", report.join(" | "));
}
