//! Harness benchmark: boot-to-ready of 1, 2 and 3 nodes of the built-in base under
//! `piimage test` (QEMU TCG on this machine's cores), the harness's own overhead per command
//! (a `true` round trip over the control channel, 20 times), and beside them the floor: the
//! same baked image booted by hand with plain qemu-system-aarch64 until its login prompt.
//!
//!   sudo cargo bench --bench harness     (the built-in base is built on first use)
//!
//! Figures are printed, never asserted.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn cache() -> PathBuf {
    std::env::var_os("PIIMAGE_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/piimage")))
        .expect("a cache directory")
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs a scenario and returns its JSON report.
fn scenario(dir: &Path, name: &str, steps: &str) -> serde_json::Value {
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(
        &path,
        format!(
            "inventory: {}\nsteps:\n{steps}",
            repo().join("fixtures/inventories/smoke.yaml").display()
        ),
    )
    .expect("scenario written");
    let json = dir.join(format!("{name}.json"));
    let out = Command::new(env!("CARGO_BIN_EXE_piimage"))
        .args(["test", path.to_str().unwrap_or_default(), "--json"])
        .arg(&json)
        .env("PIIMAGE_CACHE_DIR", cache())
        .output()
        .expect("piimage runs");
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(&json).expect("report")).expect("JSON report")
}

fn boots(report: &serde_json::Value) -> Vec<f64> {
    report["boots"]
        .as_array()
        .map(|b| b.iter().filter_map(|f| f["seconds"].as_f64()).collect())
        .unwrap_or_default()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Plain QEMU, the same machine and image, no harness: seconds to the login prompt.
fn floor(baked: &Path, dir: &Path) -> f64 {
    let boot = imager::bootfiles::extract(baked, dir).expect("boot files");
    let mut machine = qemu::Machine::launch(qemu::MachineSpec {
        name: "floor".into(),
        image: baked.to_path_buf(),
        kernel: boot.kernel,
        initrd: boot.initrd.expect("an initramfs"),
        cmdline: boot.cmdline,
        memory_mib: 1536,
        cpus: 2,
        network: Vec::new(),
        disk_size: None,
        work_dir: dir.join("qemu"),
        socket_dir: None,
        allow_reboot: false,
    })
    .expect("QEMU starts");
    let started = Instant::now();
    machine
        .wait_for("the login prompt", Duration::from_secs(900), &|l| {
            l.contains(" login:")
        })
        .expect("the node boots");
    started.elapsed().as_secs_f64()
}

fn main() {
    let dir = tempfile::tempdir().expect("scratch");
    let one = scenario(dir.path(), "one", "  - boot: [p1]\n");
    let two = scenario(dir.path(), "two", "  - boot: [p1, p2]\n");
    let rt: String = (0..20)
        .map(|_| "  - run: { node: p1, cmd: \"true\" }\n".to_string())
        .collect();
    let three = scenario(dir.path(), "three", &format!("  - boot: all\n{rt}"));
    let round_trips: Vec<f64> = three["steps"]
        .as_array()
        .map(|s| {
            s.iter()
                .filter(|s| s["label"] == "run p1: true")
                .filter_map(|s| s["seconds"].as_f64())
                .collect()
        })
        .unwrap_or_default();
    let cluster = |r: &serde_json::Value| r["steps"][0]["seconds"].as_f64().unwrap_or(f64::NAN);
    let bake = cache().join("test-bakes");
    let baked = std::fs::read_dir(&bake)
        .expect("a test bake")
        .flatten()
        .map(|e| e.path().join("p1.img"))
        .find(|p| p.exists())
        .expect("p1 baked");
    let floor = floor(&baked, dir.path());

    println!(
        "piimage test on this machine ({} cores), built-in base, 1536 MiB and 2 vCPUs per node",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    println!("| | per node: start to ready | whole cluster ready |");
    println!("|---|---:|---:|");
    for (name, r) in [("1 node", &one), ("2 nodes", &two), ("3 nodes", &three)] {
        let b = boots(r);
        println!(
            "| {name} | {} | {:.0} s |",
            b.iter()
                .map(|s| format!("{s:.0} s"))
                .collect::<Vec<_>>()
                .join(", "),
            cluster(r)
        );
    }
    println!(
        "| floor: plain qemu-system-aarch64, same image, to its login prompt | {floor:.0} s | |"
    );
    println!(
        "| command round trip (`true`, control channel), median of {} | {:.0} ms | min {:.0} ms |",
        round_trips.len(),
        median(round_trips.clone()) * 1000.0,
        round_trips.iter().copied().fold(f64::INFINITY, f64::min) * 1000.0
    );
}
