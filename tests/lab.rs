//! The lab's scenarios end to end on emulated clusters (qemu-system-aarch64 under TCG): Swarm
//! failover with keepalived, a GlusterFS replica, and `docker stack deploy` from an offline
//! registry pass on one shared cluster, and each broken twin fails at the step that shows
//! what is broken. The longest test of the suite: two clusters boot, one after the other.

mod common;

use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const SCENARIOS: [&str; 6] = [
    "scenarios/failover.yaml",
    // The stack before the gluster scenario: gluster-replica crashes two of the three swarm
    // managers at once (the swarm loses its quorum), and a stack deployed after that once
    // hung in `docker service ls` for the whole 600 s (docs/scenarios.md).
    "scenarios/stack-deploy.yaml",
    "scenarios/gluster-replica.yaml",
    "scenarios/broken/gluster-replica2.yaml",
    "scenarios/broken/keepalived-same-priority.yaml",
    "scenarios/broken/registry-missing.yaml",
];

#[test]
fn the_lab_scenarios_pass_and_their_broken_twins_fail_where_they_are_broken() {
    // The stack's images, from Debian arm64 packages (cached by their recipe's hash).
    common::lab_images();

    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let junit = dir.path().join("junit.xml");
    // The failed clusters' disks are kept for a look: here, inside the test's own folder.
    let artifacts = dir.path().join("artifacts");
    let mut args = vec![
        "test",
        "--artifacts",
        artifacts.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ];
    let paths: Vec<String> = SCENARIOS
        .iter()
        .map(|s| repo().join(s).display().to_string())
        .collect();
    args.extend(paths.iter().map(String::as_str));
    let run = common::piimage(&common::shared_cache(), &args);
    eprintln!("{}", run.stderr);
    // The broken twins fail, so the run does.
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("== one cluster of 3 nodes for 4 scenarios of"),
        "the lab's scenarios share one cluster: {}",
        run.stderr
    );

    // Kept for the README's figures (a passing test's output is not shown).
    let _ = std::fs::copy(&json, repo().join("target/lab-report.json"));
    let reports: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    // One short line per scenario, last: CI shows the end of a long log, and a failure's
    // JSON (with the step's output) is folded past reading there.
    for r in &reports {
        eprintln!("{}", summary(r));
    }
    let report = |name: &str| {
        reports
            .iter()
            .find(|r| r["scenario"] == name)
            .unwrap_or_else(|| panic!("no report for {name}"))
    };
    let figure = |r: &serde_json::Value, name: &str| -> f64 {
        r["measures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .and_then(|m| m["seconds"].as_f64())
            .unwrap_or_else(|| panic!("{} has no figure {name}: {r}", r["scenario"]))
    };

    for (name, figures) in [
        (
            "failover",
            &[
                "leader_election",
                "vip_takeover",
                "service_recovery",
                "vip_outage",
            ][..],
        ),
        ("gluster-replica", &["heal"][..]),
        ("stack-deploy", &["stack_ready"][..]),
    ] {
        let r = report(name);
        assert_eq!(r["status"], "passed", "{}", summary(r));
        for f in figures {
            let seconds = figure(r, f);
            assert!(seconds > 0.0, "{name}: {f} = {seconds}");
            eprintln!("{name}: {f} {seconds:.1} s");
        }
        eprintln!("{name}: wall {:.0} s", r["seconds"].as_f64().unwrap());
    }

    // Each twin fails where its mistake shows, not anywhere.
    for (name, subtest, label) in [
        (
            "gluster-replica2",
            "with one brick lost, reads and writes still work",
            // Reads already fail: without quorum the client refuses the volume.
            "cat /mnt/lab2/before-",
        ),
        (
            "keepalived-same-priority",
            "p1 takes the address back (preemption)",
            "wait until p1: ip -4 -o addr show eth0",
        ),
        (
            "registry-missing",
            "the stack deploys",
            // The task table, with p2's task rejected and docker's reason.
            "docker service ps --no-trunc lab_web | head -4",
        ),
    ] {
        let r = report(name);
        assert_eq!(r["status"], "failed", "{name}: {r}");
        let f = &r["failure"];
        assert_eq!(f["subtest"], subtest, "{name}: {f}");
        assert!(
            f["label"].as_str().unwrap().contains(label),
            "{name} failed elsewhere: {f}"
        );
        if name == "registry-missing" {
            let message = f["message"].as_str().unwrap_or_default();
            assert!(message.contains("Rejected"), "{name}: {f}");
        }
        assert!(
            run.stderr.contains(&format!("{name}.yaml at step")),
            "the run names {name}'s failing step: {}",
            run.stderr
        );
    }

    // Every scenario is a testsuite of the JUnit file.
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let suites = doc
        .descendants()
        .filter(|n| n.has_tag_name("testsuite"))
        .count();
    assert_eq!(suites, SCENARIOS.len(), "{xml}");
}

/// `name: status in N s`, and for a failure where and why, cut short.
fn summary(r: &serde_json::Value) -> String {
    let mut line = format!(
        "{}: {} in {:.0} s",
        r["scenario"].as_str().unwrap_or("?"),
        r["status"].as_str().unwrap_or("?"),
        r["seconds"].as_f64().unwrap_or_default()
    );
    let f = &r["failure"];
    if f.is_object() {
        let text = |key: &str| f[key].as_str().unwrap_or_default().replace('\n', " | ");
        let cut = |s: String| s.chars().take(300).collect::<String>();
        line += &format!(
            "; step {} ({}) of \"{}\": {}",
            f["step"].as_str().unwrap_or("?"),
            cut(text("label")),
            text("subtest"),
            cut(text("message"))
        );
    }
    line
}
