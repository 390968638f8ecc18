//! `piimage plan` on the lab inventory over each flavour: the file operations (with every
//! rendered file) as snapshots, and the whole path a bake takes — plan, apply, fsck — judged
//! by `inspect`, which must report back what the inventory asked for.

mod common;

use std::path::{Path, PathBuf};

use common::{piimage_with, Run};
use fixtures::{e2fsck, fsck_fat};

const EPOCH: (&str, &str) = ("SOURCE_DATE_EPOCH", "1700000000");

/// The lab inventory in a folder of its own, its `base.img` the fixture of `flavour`.
fn lab(flavour: &'static str) -> (tempfile::TempDir, PathBuf) {
    common::stage_lab(&common::lab_text(), flavour)
}

fn run(dir: &Path, args: &[&str]) -> Run {
    let run = piimage_with(&dir.join("cache"), args, &[EPOCH]);
    assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
    run
}

macro_rules! plan_snapshots {
    ($($name:ident: $flavour:literal;)*) => {
        $(
            #[test]
            fn $name() {
                let (dir, inventory) = lab($flavour);
                let out = run(dir.path(), &["plan", "-c", inventory.to_str().unwrap(), "--node", "p3", "--json"]);
                insta::assert_snapshot!(common::redact(&out.stdout, dir.path(), "DIR"));
            }
        )*
    };
}

plan_snapshots! {
    plan_bullseye: "bullseye";
    plan_bookworm: "bookworm";
    plan_trixie: "trixie";
    plan_hypriot: "hypriot";
    plan_debian: "debian";
}

#[test]
fn plan_for_people() {
    let (dir, inventory) = lab("bookworm");
    let out = run(dir.path(), &["plan", "-c", inventory.to_str().unwrap()]);
    let out = common::redact(&out.stdout, &fixtures::apt_repo(), "REPO");
    insta::assert_snapshot!(out);
}

fn baked_node_reports_what_was_asked(flavour: &'static str) {
    let (dir, inventory) = lab(flavour);
    let plan = run(
        dir.path(),
        &[
            "plan",
            "-c",
            inventory.to_str().unwrap(),
            "--node",
            "p2",
            "--json",
        ],
    );
    let plans: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    let ops = dir.path().join("p2.ops.json");
    std::fs::write(&ops, serde_json::to_string(&plans["p2"]).unwrap()).unwrap();
    let image = dir.path().join("p2.img");
    run(
        dir.path(),
        &[
            "apply",
            dir.path().join("base.img").to_str().unwrap(),
            "--ops",
            ops.to_str().unwrap(),
            "-o",
            image.to_str().unwrap(),
        ],
    );

    let root = e2fsck(&image, 2);
    assert!(root.clean, "{flavour}: e2fsck -fn:\n{}", root.output);
    let boot = fsck_fat(&image, 1);
    assert!(boot.clean, "{flavour}: fsck.fat -n:\n{}", boot.output);

    let report: serde_json::Value = serde_json::from_str(
        &run(dir.path(), &["inspect", "--json", image.to_str().unwrap()]).stdout,
    )
    .unwrap();
    assert_eq!(report["hostname"], "p2", "{flavour}");
    let address = &report["addresses"][0];
    assert_eq!(
        address["address"], "172.19.181.2/24",
        "{flavour}: {report:#}"
    );
    assert_eq!(address["gateway"], "172.19.181.254", "{flavour}");
    assert_eq!(
        address["dns"],
        serde_json::json!(["172.19.181.254"]),
        "{flavour}"
    );
    let pi = report["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "pi" && u["source"] == "/etc/passwd")
        .unwrap_or_else(|| panic!("{flavour}: no user pi: {report:#}"));
    assert_eq!(
        pi["authorized_keys"][0]["fingerprint"],
        "SHA256:Dxskk+2pq9awXVtARc2kSyA4H++gf/RMclW5xbQSWOg"
    );
    let groups: Vec<&str> = pi["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap())
        .collect();
    assert!(
        groups.contains(&"sudo") && groups.contains(&"docker"),
        "{flavour}: {groups:?}"
    );
    for service in ["ssh", "docker", "fail2ban", "cron"] {
        let s = report["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == service)
            .unwrap();
        assert_eq!(s["enabled"], true, "{flavour}: {service} enabled: {s}");
    }
    assert_eq!(
        report["docker_daemon"],
        serde_json::json!({
            "insecure-registries": ["p1:5000"],
            "labels": ["lab=a", "service=web"],
            "log-driver": "journald",
            "hosts": ["fd://", "tcp://0.0.0.0:2376"],
            "tls": true,
            "tlsverify": true,
            "tlscacert": "/etc/docker/tls/ca.pem",
            "tlscert": "/etc/docker/tls/server-cert.pem",
            "tlskey": "/etc/docker/tls/server-key.pem",
        }),
        "{flavour}"
    );
}

#[test]
fn baked_bullseye() {
    baked_node_reports_what_was_asked("bullseye");
}

#[test]
fn baked_bookworm() {
    baked_node_reports_what_was_asked("bookworm");
}

#[test]
fn baked_trixie() {
    baked_node_reports_what_was_asked("trixie");
}

#[test]
fn baked_hypriot() {
    baked_node_reports_what_was_asked("hypriot");
}

#[test]
fn baked_debian() {
    baked_node_reports_what_was_asked("debian");
}
