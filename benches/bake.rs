//! Bake benchmark: 40 nodes from a multi-GiB sparse base with `piimage bake`, side by side
//! with 40 × `cp --sparse=always` of the same base (what a per-node copy costs before any
//! edit), in one run on the same disk.
//!
//!   cargo bench --bench bake        (PIIMAGE_BENCH_NODES / _ROOT_MIB / _FILL_MIB to resize)
//!
//! Figures are printed, never asserted. Outputs are removed at the end.

use std::fmt::Write as _;
use std::process::Command;
use std::time::Instant;

use fixtures::Fixture;

fn main() {
    let env = |name: &str, default: u32| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let nodes = env("PIIMAGE_BENCH_NODES", 40);
    let root_mib = env("PIIMAGE_BENCH_ROOT_MIB", 3584);
    let fill_mib = env("PIIMAGE_BENCH_FILL_MIB", 512);
    eprintln!("building the base fixture (bookworm layout, {root_mib} MiB root, {fill_mib} MiB of data; cached)…");
    let base = Fixture::new("bookworm").sized(root_mib, fill_mib).build();
    let dir = tempfile::tempdir_in(base.parent().expect("fixture directory"))
        .expect("scratch directory beside the base");
    std::os::unix::fs::symlink(&base, dir.path().join("base.img")).expect("base link");
    std::fs::write(
        dir.path().join("lab.secret"),
        format!("{}\n", "5e".repeat(32)),
    )
    .expect("secret");

    let mut inventory = String::from(
        "base: ./base.img\ndefaults:\n  network: { prefix: 16, gateway: 10.1.255.254, dns: [10.1.255.254] }\n  \
         users: [ { name: pi, groups: [sudo], ssh_authorized_keys: [\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMiF2hsK1ujjRrK37hRaSEsdmtJHPWMfzAtxZy7FnZxn admin@lab\"] } ]\n  \
         cron: [ { schedule: \"@reboot\", user: pi, command: /home/pi/start.sh } ]\n  boot: { cmdline: [cgroup_enable=memory] }\nnodes:\n",
    );
    for i in 1..=nodes {
        let _ = writeln!(
            inventory,
            "  n{i:02}: {{ address: 10.1.{}.{} }}",
            i / 250,
            i % 250 + 1
        );
    }
    std::fs::write(dir.path().join("lab.yaml"), inventory).expect("inventory");

    let out = dir.path().join("images");
    let start = Instant::now();
    let status = Command::new(env!("CARGO_BIN_EXE_piimage"))
        .args(["bake", "-c"])
        .arg(dir.path().join("lab.yaml"))
        .arg("-o")
        .arg(&out)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env("PIIMAGE_CACHE_DIR", dir.path().join("cache"))
        .stdout(std::process::Stdio::null())
        .status()
        .expect("piimage runs");
    let bake = start.elapsed();
    assert!(status.success(), "bake failed");
    let allocated: u64 = std::fs::read_dir(&out)
        .expect("images")
        .filter_map(|e| e.ok())
        .map(|e| std::os::unix::fs::MetadataExt::blocks(&e.metadata().expect("metadata")) * 512)
        .sum();

    let copies = |sync: bool| {
        let start = Instant::now();
        for i in 0..nodes {
            let copy = dir.path().join(format!("cp-{i}.img"));
            let ok = Command::new("cp")
                .arg("--sparse=always")
                .arg(&base)
                .arg(&copy)
                .status()
                .expect("cp runs")
                .success();
            assert!(ok, "cp failed");
            if sync {
                // bake fsyncs each image before its rename; `sync FILE` gives cp the same.
                assert!(Command::new("sync")
                    .arg(&copy)
                    .status()
                    .expect("sync runs")
                    .success());
            }
            // Copies are removed as they go: forty of them would crowd the disk for nothing.
            let _ = std::fs::remove_file(&copy);
        }
        start.elapsed()
    };
    let cp = copies(false);
    let cp_sync = copies(true);

    let size = std::fs::metadata(&base).map(|m| m.len()).unwrap_or(0);
    let gib = |b: u64| format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64);
    println!();
    println!("base: {} apparent; {nodes} nodes", gib(size));
    println!("{:<58} {:>10}", "", "wall time");
    println!(
        "{:<58} {:>9.1} s",
        format!(
            "piimage bake: {nodes} images + manifest + known_hosts ({} allocated)",
            gib(allocated)
        ),
        bake.as_secs_f64()
    );
    println!(
        "{:<58} {:>9.1} s",
        format!("{nodes} x cp --sparse=always of the base (no edit, no hash)"),
        cp.as_secs_f64()
    );
    println!(
        "{:<58} {:>9.1} s",
        format!("{nodes} x cp --sparse=always, then sync FILE"),
        cp_sync.as_secs_f64()
    );
}
