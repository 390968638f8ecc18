//! `piimage test SCENARIO… [--junit FILE] [--json FILE] [--keep] [--dry-run]`: every scenario
//! checked first (bad input boots nothing), then each one's inventory baked exactly as for the
//! cards, a test copy made of each image (the harness's guest side added), the cluster booted
//! in QEMU and the steps run. A live view on a terminal, step lines otherwise.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use imager::inventory::Inventory;
use imager::source::BaseCache;
use qemu::cluster::{Cluster, NodeImage, Options};
use qemu::scenario::check::{self, Scenario, StepKind};
use qemu::scenario::report::StepReport;
use qemu::scenario::run::{self, Event};
use qemu::scenario::{Report, Status};

use crate::cli::TestArgs;
use crate::exit::{BadInput, SomeFailed};

pub fn run(cache: &BaseCache, args: TestArgs) -> Result<()> {
    let mut planned = Vec::new();
    for path in &args.scenarios {
        planned.push(load(path)?);
    }
    if args.dry_run {
        for (scenario, _) in &planned {
            print!("{}", plan(scenario));
        }
        return Ok(());
    }
    host::preflight(host::Need::Test, cache.dir())?;

    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let flag = interrupted.clone();
        // Ctrl-C: every QEMU goes at once, the waits on them end, the runner stops, and the
        // cluster's cleanup runs as on any other failure.
        let _ = ctrlc::set_handler(move || {
            flag.store(true, Ordering::SeqCst);
            qemu::machine::kill_all();
        });
    }
    let mut reports = Vec::new();
    let mut first = 0;
    while first < planned.len() && !interrupted.load(Ordering::SeqCst) {
        // Scenarios in a row on the same inventory and machines share one booted cluster.
        let mut end = first + 1;
        while end < planned.len() && same_cluster(&planned[first].0, &planned[end].0) {
            end += 1;
        }
        reports.extend(run_group(cache, &planned[first..end], &args, &interrupted)?);
        first = end;
    }
    if let Some(path) = &args.junit {
        let xml = Report::junit(&reports).context("writing JUnit XML")?;
        write_atomic(path, xml.as_bytes())?;
    }
    if let Some(path) = &args.json {
        let json = if reports.len() == 1 {
            serde_json::to_string_pretty(&reports[0])?
        } else {
            serde_json::to_string_pretty(&reports)?
        };
        write_atomic(path, format!("{json}\n").as_bytes())?;
    }
    let worst = |s: Status| reports.iter().any(|r| r.status == s);
    if interrupted.load(Ordering::SeqCst) || worst(Status::Interrupted) {
        anyhow::bail!("interrupted: every node was stopped")
    }
    if worst(Status::Error) {
        let r = reports.iter().find(|r| r.status == Status::Error);
        anyhow::bail!(
            "{}: the harness failed{}",
            r.map(|r| r.file.as_str()).unwrap_or(""),
            r.and_then(|r| r.failure.as_ref())
                .map(|f| format!(
                    " at step {} ({}): {}",
                    f.step,
                    f.label,
                    first_line(&f.message)
                ))
                .unwrap_or_default()
        )
    }
    if worst(Status::Failed) {
        let failed: Vec<String> = reports
            .iter()
            .filter(|r| r.status == Status::Failed)
            .map(|r| {
                let at = r
                    .failure
                    .as_ref()
                    .map(|f| {
                        format!(
                            " at step {}{} ({}{})",
                            f.step,
                            f.subtest
                                .as_ref()
                                .map(|t| format!(" of \"{t}\""))
                                .unwrap_or_default(),
                            f.label,
                            f.node
                                .as_ref()
                                .map(|n| format!(", node {n}"))
                                .unwrap_or_default()
                        )
                    })
                    .unwrap_or_default();
                format!("{}{at}", r.file)
            })
            .collect();
        return Err(SomeFailed(format!("failed: {}", failed.join("; "))).into());
    }
    Ok(())
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

/// A scenario read and checked against its inventory: bad input before anything boots.
fn load(path: &Path) -> Result<(Scenario, Inventory)> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| BadInput(format!("{}: {}", path.display(), e)))?;
    let raw = check::parse(path, &text).map_err(|e| BadInput(e.to_string()))?;
    let inventory_path = check::inventory_path(path, &raw);
    if !inventory_path.is_file() {
        return Err(BadInput(
            check::error_at(
                path,
                &text,
                "inventory",
                format!("the inventory {} does not exist", inventory_path.display()),
            )
            .to_string(),
        )
        .into());
    }
    let inventory = Inventory::load(&inventory_path).map_err(imager::Error::from)?;
    let nodes: Vec<(String, Option<String>)> = inventory
        .nodes
        .iter()
        .map(|n| {
            (
                n.name.clone(),
                n.address.as_ref().map(|a| a.address.to_string()),
            )
        })
        .collect();
    let scenario = check::check(path, &text, &raw, &nodes).map_err(|e| BadInput(e.to_string()))?;
    Ok((scenario, inventory))
}

/// `--dry-run`: what would boot and what would run.
fn plan(s: &Scenario) -> String {
    let mut out = format!(
        "{} (inventory {}, timeout {})\n  nodes:\n",
        s.file.display(),
        s.inventory.display(),
        humantime::format_duration(s.timeout)
    );
    for (name, m) in &s.nodes {
        out += &format!(
            "    {name:<12} {} MiB, {} vCPU, boot within {}\n",
            m.memory_mib,
            m.cpus,
            humantime::format_duration(m.boot_timeout)
        );
    }
    out += "  steps:\n";
    fn steps(out: &mut String, list: &[qemu::scenario::Step], depth: usize) {
        for step in list {
            let timeout = match &step.kind {
                StepKind::Run { timeout, .. }
                | StepKind::WaitUntil { timeout, .. }
                | StepKind::Measure { timeout, .. } => {
                    format!("  (timeout {})", humantime::format_duration(*timeout))
                }
                _ => String::new(),
            };
            let place = step
                .place
                .map(|(l, _)| format!("  [line {l}]"))
                .unwrap_or_default();
            *out += &format!(
                "    {}{:<6} {}{timeout}{place}\n",
                "  ".repeat(depth),
                step.number,
                step.label()
            );
            if let StepKind::Subtest { steps: inner, .. } = &step.kind {
                steps(out, inner, depth + 1);
            }
        }
    }
    steps(&mut out, &s.steps, 0);
    out
}

/// One scenario, from bake to report; the cluster is stopped whatever happens.
/// Whether two scenarios can run on one booted cluster: the same inventory file and the
/// same machines for the same nodes.
fn same_cluster(a: &Scenario, b: &Scenario) -> bool {
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    canonical(&a.inventory) == canonical(&b.inventory) && a.nodes == b.nodes
}

/// Runs scenarios that share a cluster: baked and booted once, each scenario in turn, the
/// network made whole between them.
fn run_group(
    cache: &BaseCache,
    group: &[(Scenario, Inventory)],
    args: &TestArgs,
    interrupted: &AtomicBool,
) -> Result<Vec<Report>> {
    let (scenario, inventory) = &group[0];
    let live = std::io::stderr().is_terminal();
    let say = |text: String| eprintln!("{text}");
    if group.len() > 1 {
        say(format!(
            "== one cluster of {} nodes for {} scenarios of {}",
            scenario.nodes.len(),
            group.len(),
            inventory.file.display()
        ));
    } else {
        say(format!(
            "== {} ({} nodes)",
            scenario.file.display(),
            scenario.nodes.len()
        ));
    }

    // Baked exactly as `piimage bake` would, into the cache by inventory: a second run with
    // the same inputs bakes nothing.
    let started = Instant::now();
    let bake_dir = test_bake_dir(cache, &inventory.file);
    let prepared = super::prepare::prepare(cache, &inventory.file, &[])?;
    let baked = super::bake::bake(&prepared, &inventory.file, &bake_dir, false, true)?;
    say(format!(
        "  baked {} in {:.1} s ({})",
        if baked.baked.is_empty() {
            "nothing (up to date)".to_string()
        } else {
            baked.baked.join(", ")
        },
        started.elapsed().as_secs_f64(),
        bake_dir.display()
    ));

    let artifacts = match &args.artifacts {
        Some(dir) => {
            let d = dir.join(&scenario.name);
            std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
            d
        }
        None => tempfile::Builder::new()
            .prefix(&format!("piimage-test-{}-", scenario.name))
            .tempdir()
            .context("making the artifacts folder")?
            .keep(),
    };
    // Unix sockets want short paths: their own folder under /tmp, always removed.
    let sockets = tempfile::Builder::new()
        .prefix("piimage-")
        .tempdir_in("/tmp")
        .context("making the sockets folder")?;

    let started = Instant::now();
    let mut images = Vec::new();
    for (name, machine) in &scenario.nodes {
        let baked_image = bake_dir.join(format!("{name}.img"));
        let copy = artifacts.join(format!("{name}.test.img"));
        qemu::guest::make_test_copy(&baked_image, &copy)?;
        images.push(NodeImage {
            name: name.clone(),
            image: copy,
            memory_mib: machine.memory_mib,
            cpus: machine.cpus,
            boot_timeout: machine.boot_timeout,
        });
    }
    say(format!(
        "  test copies (the baked images + the harness's control shell) in {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    let mut cluster = Cluster::new(
        &images,
        Options {
            work_dir: artifacts.clone(),
            socket_dir: sockets.path().to_path_buf(),
        },
    )?;

    let mut reports = Vec::new();
    for (n, (scenario, _)) in group.iter().enumerate() {
        if interrupted.load(Ordering::SeqCst) {
            break;
        }
        if n > 0 {
            cluster.settle();
        }
        if group.len() > 1 {
            say(format!("== {}", scenario.file.display()));
        }
        let report = run_scenario(scenario, &mut cluster, interrupted, live);
        summary(&report);
        reports.push(report);
    }

    let passed = reports.len() == group.len() && reports.iter().all(|r| r.status == Status::Passed);
    let stopped = reports.iter().any(|r| r.status == Status::Interrupted);
    let keep = args.keep || !passed;
    if keep && !stopped {
        // Consoles, overlays, the segment's capture and the reports stay.
        drop(cluster);
    } else {
        cluster.discard();
        drop(cluster);
        for image in &images {
            let _ = std::fs::remove_file(&image.image);
        }
    }
    drop(sockets);
    if keep {
        for report in &mut reports {
            report.artifacts = Some(artifacts.display().to_string());
            let file = if group.len() == 1 {
                "report.json".to_string()
            } else {
                format!("{}.report.json", report.scenario)
            };
            let json = serde_json::to_string_pretty(&report)?;
            write_atomic(&artifacts.join(file), format!("{json}\n").as_bytes())?;
        }
        eprintln!("  artifacts: {}", artifacts.display());
    } else if args.artifacts.is_none() {
        let _ = std::fs::remove_dir_all(&artifacts);
    }
    Ok(reports)
}

/// One scenario's steps on the cluster, with a live view or step lines.
fn run_scenario(
    scenario: &Scenario,
    cluster: &mut Cluster,
    interrupted: &AtomicBool,
    live: bool,
) -> Report {
    let bar = if live {
        let b = indicatif::ProgressBar::new_spinner();
        b.enable_steady_tick(std::time::Duration::from_millis(200));
        b.set_style(
            indicatif::ProgressStyle::with_template("  {spinner} [{elapsed_precise}] {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        Some(b)
    } else {
        None
    };
    let report = run::run(scenario, cluster, interrupted, &mut |event| match event {
        Event::Started { step, depth } => {
            let text = format!("{}{} {}", "  ".repeat(depth), step.number, step.label());
            match &bar {
                Some(b) => b.set_message(text),
                None => eprintln!("  {text} ..."),
            }
        }
        Event::Finished { step } => {
            let line = step_line(step);
            match &bar {
                Some(b) => b.println(line),
                None => eprintln!("{line}"),
            }
        }
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    report
}

fn step_line(step: &StepReport) -> String {
    let mark = match step.status {
        Status::Passed => "ok  ",
        Status::Failed => "FAIL",
        Status::Error => "ERR ",
        Status::Skipped => "skip",
        Status::Interrupted => "int ",
    };
    let mut line = format!(
        "  {mark} {:>6.1}s  {} {}",
        step.seconds, step.number, step.label
    );
    if let Some(m) = &step.message {
        if step.status == Status::Passed {
            line += &format!("  ({})", first_line(m));
        } else {
            for l in m.lines().take(8) {
                line += &format!("\n           {l}");
            }
        }
    }
    line
}

fn summary(report: &Report) {
    let boots: Vec<String> = report
        .boots
        .iter()
        .map(|b| format!("{} {:.0} s", b.name, b.seconds))
        .collect();
    if !boots.is_empty() {
        eprintln!("  boot to ready: {}", boots.join(", "));
    }
    for m in &report.measures {
        eprintln!("  measure {}: {:.1} s", m.name, m.seconds);
    }
    let status = match report.status {
        Status::Passed => "PASSED",
        Status::Failed => "FAILED",
        Status::Error => "HARNESS FAILURE",
        Status::Skipped => "SKIPPED",
        Status::Interrupted => "INTERRUPTED",
    };
    eprintln!("  {status} in {:.0} s", report.seconds);
    if let Some(f) = &report.failure {
        eprintln!(
            "  step {}{} ({}){}: {}",
            f.step,
            f.subtest
                .as_ref()
                .map(|t| format!(" of \"{t}\""))
                .unwrap_or_default(),
            f.label,
            f.node
                .as_ref()
                .map(|n| format!(" on {n}"))
                .unwrap_or_default(),
            first_line(&f.message)
        );
        if !f.console_tail.is_empty() {
            eprintln!("  the console's last lines:");
            for l in f
                .console_tail
                .lines()
                .rev()
                .take(10)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
            {
                eprintln!("    | {l}");
            }
        }
    }
}

/// How many inventories' test bakes the cache keeps (a few GiB each): enough for a suite's
/// clusters, so the next run bakes nothing, without growing with every clone or inventory.
const TEST_BAKES_KEPT: usize = 6;

/// The cache folder an inventory's test bake lives in, marked as just used; the least
/// recently used others beyond [`TEST_BAKES_KEPT`] are removed.
fn test_bake_dir(cache: &BaseCache, inventory: &Path) -> PathBuf {
    let root = cache.dir().join("test-bakes");
    let dir = root.join(hex_name(
        &std::fs::canonicalize(inventory).unwrap_or(inventory.to_path_buf()),
    ));
    if std::fs::create_dir_all(&dir).is_ok() {
        if let Ok(handle) = std::fs::File::open(&dir) {
            let _ = handle.set_modified(std::time::SystemTime::now());
        }
    }
    let mut others: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(&root)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path() != dir && e.path().is_dir())
        .map(|e| {
            let used = e.metadata().and_then(|m| m.modified());
            (used.unwrap_or(std::time::UNIX_EPOCH), e.path())
        })
        .collect();
    others.sort_by_key(|(used, _)| std::cmp::Reverse(*used));
    for (_, old) in others.into_iter().skip(TEST_BAKES_KEPT - 1) {
        tracing::info!("removing an old test bake: {}", old.display());
        let _ = std::fs::remove_dir_all(&old);
    }
    dir
}

fn hex_name(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(path.as_os_str().as_encoded_bytes())[..8])
}

fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)
        .with_context(|| format!("writing into {}", dir.display()))?;
    std::io::Write::write_all(&mut tmp, data)?;
    tmp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_bakes_keep_the_most_recently_used_and_the_one_in_use() {
        let cache_dir = tempfile::tempdir().unwrap();
        let cache = BaseCache::new(cache_dir.path());
        let root = cache_dir.path().join("test-bakes");
        // Older bakes, oldest first, each marked used a minute after the one before.
        let epoch = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        for n in 0..TEST_BAKES_KEPT + 2 {
            let d = root.join(format!("old{n}"));
            std::fs::create_dir_all(&d).unwrap();
            let used = epoch + std::time::Duration::from_secs(60 * n as u64);
            std::fs::File::open(&d).unwrap().set_modified(used).unwrap();
        }
        let inventory = cache_dir.path().join("lab.yaml");
        std::fs::write(&inventory, "").unwrap();
        let dir = test_bake_dir(&cache, &inventory);
        assert!(dir.is_dir());
        let mut left: Vec<String> = std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        let mut wanted: Vec<String> = (3..TEST_BAKES_KEPT + 2)
            .map(|n| format!("old{n}"))
            .collect();
        wanted.push(dir.file_name().unwrap().to_string_lossy().into_owned());
        wanted.sort();
        assert_eq!(left, wanted);
    }
}
