//! `piimage test` with real emulated nodes (qemu-system-aarch64 under TCG; minutes each).
//! One at a time: two QEMU runs on 2 host cores would measure each other. The built-in base
//! comes from piimage's cache (built on first use, as root; CI runs as root).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

static QEMU: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    QEMU.lock().unwrap_or_else(|p| p.into_inner())
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// QEMU processes whose command line mentions `needle`.
fn qemu_mentioning(needle: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if text.starts_with("qemu-system-aarch64") && text.contains(needle) {
            found.push(pid);
        }
    }
    found
}

fn files_named(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_named(&p, suffix));
        } else if p.to_string_lossy().ends_with(suffix) {
            out.push(p);
        }
    }
    out
}

/// A scenario on the one-node inventory, written into `dir`.
fn one_node_scenario(dir: &Path, steps: &str) -> PathBuf {
    let path = dir.join("scenario.yaml");
    std::fs::write(
        &path,
        format!(
            "inventory: {}\nsteps:\n{steps}",
            repo().join("fixtures/inventories/one.yaml").display()
        ),
    )
    .unwrap();
    path
}

#[test]
fn the_smoke_scenario_passes_and_its_junit_reads_back() {
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let json = dir.path().join("report.json");
    let artifacts = dir.path().join("artifacts");
    let run = common::piimage_with(
        &common::shared_cache(),
        &[
            "test",
            "scenarios/smoke.yaml",
            "--junit",
            junit.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
            "--artifacts",
            artifacts.to_str().unwrap(),
        ],
        &[],
    );
    eprintln!("{}", run.stderr);
    assert_eq!(run.code, 0, "the smoke scenario failed:\n{}", run.stderr);

    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("JUnit XML parses");
    let suites: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    assert_eq!(suites.len(), 1);
    assert_eq!(suites[0].attribute("name"), Some("smoke"));
    let cases: Vec<_> = suites[0]
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    // Six steps, and seven subtests folded into one test case each.
    assert_eq!(cases.len(), 13, "{xml}");
    assert!(cases.iter().any(|c| c.attribute("name")
        == Some("subtest a paused node gives no answer, then answers after resume")));
    assert!(
        !doc.descendants()
            .any(|n| n.has_tag_name("failure") || n.has_tag_name("error")),
        "{xml}"
    );

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["status"], "passed");
    assert!(
        report["boots"].as_array().unwrap().len() >= 5,
        "3 boots, a start, a reboot"
    );
    assert!(report["measures"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["name"] == "p3_reachable_after_start"));
    // A pass leaves no machine, overlay or test copy behind.
    assert!(qemu_mentioning(artifacts.to_str().unwrap()).is_empty());
    assert!(files_named(&artifacts, ".qcow2").is_empty());
    assert!(files_named(&artifacts, ".test.img").is_empty());
}

#[test]
fn a_step_that_times_out_exits_1_names_step_and_node_and_keeps_artifacts() {
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let scenario = one_node_scenario(
        dir.path(),
        "  - boot: all\n  - run: { node: solo, cmd: hostname, expect: { stdout: \"^solo\" } }\n  - wait_until: { node: solo, cmd: \"test -e /never\", timeout: 10s, interval: 2s }\n  - run: { node: solo, cmd: \"true\" }\n",
    );
    let artifacts = dir.path().join("artifacts");
    let run = common::piimage_with(
        &common::shared_cache(),
        &[
            "test",
            scenario.to_str().unwrap(),
            "--artifacts",
            artifacts.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("at step 3 (wait until solo: test -e /never, node solo)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("skip"),
        "the step after is not run: {}",
        run.stderr
    );
    let kept = artifacts.join("scenario");
    assert!(
        run.stderr
            .contains(&format!("artifacts: {}", kept.display())),
        "{}",
        run.stderr
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(kept.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["status"], "failed");
    assert_eq!(report["failure"]["step"], "3");
    assert_eq!(report["failure"]["node"], "solo");
    assert_eq!(report["steps"][3]["status"], "skipped");
    assert!(kept.join("solo.console.log").exists());
    assert!(
        !files_named(&kept, ".qcow2").is_empty(),
        "the overlay is kept for a look"
    );
    // Kept for a look, but nothing runs.
    assert!(qemu_mentioning(kept.to_str().unwrap()).is_empty());
}

#[test]
fn an_interrupted_run_leaves_no_qemu_socket_or_overlay_behind() {
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let scenario = one_node_scenario(dir.path(), "  - boot: all\n  - sleep: 10m\n");
    let artifacts = dir.path().join("artifacts");
    let mut child = Command::new(env!("CARGO_BIN_EXE_piimage"))
        .args([
            "test",
            scenario.to_str().unwrap(),
            "--artifacts",
            artifacts.to_str().unwrap(),
        ])
        .env("PIIMAGE_CACHE_DIR", common::shared_cache())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the node's kernel runs, then Ctrl-C.
    let console = artifacts.join("scenario/solo.console.log");
    let deadline = Instant::now() + Duration::from_secs(300);
    while !std::fs::read_to_string(&console).is_ok_and(|t| t.contains("Linux version")) {
        assert!(Instant::now() < deadline, "the node never started");
        assert!(child.try_wait().unwrap().is_none(), "piimage ended early");
        std::thread::sleep(Duration::from_millis(200));
    }
    let running = qemu_mentioning(artifacts.to_str().unwrap());
    assert_eq!(running.len(), 1, "one QEMU for one node");
    let cmdline =
        String::from_utf8_lossy(&std::fs::read(format!("/proc/{}/cmdline", running[0])).unwrap())
            .replace('\0', " ");
    let socket_dir = cmdline
        .split_whitespace()
        .find_map(|w| w.strip_prefix("unix:"))
        .and_then(|s| {
            Path::new(s.split(',').next().unwrap())
                .parent()
                .map(Path::to_path_buf)
        })
        .expect("QEMU names its QMP socket");
    // SAFETY: kill has no memory effects; the pid is our child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(
        qemu_mentioning(artifacts.to_str().unwrap()).is_empty(),
        "QEMU outlived piimage"
    );
    assert!(
        !socket_dir.exists(),
        "{} outlived piimage",
        socket_dir.display()
    );
    assert!(
        files_named(&artifacts, ".qcow2").is_empty(),
        "an overlay outlived piimage"
    );
    assert!(console.exists(), "the console log stays");
}
