//! `packages:` end to end on the fixture flavours, with the test apt repository standing in
//! for the mirror (fixtures/repo/): what bake carries onto each card (the `.deb`s apt chose
//! for the base's own architecture, read back by debugfs and dpkg-deb), what the manifest and
//! inspect say of them, the refusals (exit 2, nothing written), and a bake from a warm cache
//! with the mirror gone. The card's own first boot is played in QEMU by tests/base_boot.rs.

mod common;

use std::path::Path;

use common::{bake_staged, lab_text, piimage_with, stage_lab};
use fixtures::{e2fsck, sha256, Ext4Judge};

const EPOCH: (&str, &str) = ("SOURCE_DATE_EPOCH", "1700000000");

fn architecture(flavour: &str) -> &'static str {
    match flavour {
        "bullseye" | "hypriot" => "armhf",
        _ => "arm64",
    }
}

fn manifest(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap()
}

#[test]
fn the_lab_bakes_its_packages_on_every_flavour_for_the_bases_architecture() {
    for flavour in fixtures::FLAVOURS {
        let (dir, inventory) = stage_lab(&lab_text(), flavour);
        let (_, out) = bake_staged(dir.path(), &inventory, "out", &["--node", "p1"]);
        let arch = architecture(flavour);
        let mut expected = vec!["fail2ban", "python3-systemd"];
        if flavour != "hypriot" {
            // HypriotOS has docker-ce; elsewhere docker.io comes with what it depends on
            // and the base lacks.
            expected.extend(["docker.io", "containerd", "runc", "iptables"]);
        }
        expected.sort();
        let entries = manifest(&out)["nodes"]["p1"]["packages"].clone();
        let entries = entries
            .as_array()
            .unwrap_or_else(|| panic!("{flavour}: no packages in the manifest"));
        let mut names: Vec<&str> = entries
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, expected, "{flavour}");

        let image = out.join("p1.img");
        let root = e2fsck(&image, 2);
        assert!(root.clean, "{flavour}: e2fsck -fn:\n{}", root.output);
        let judge = Ext4Judge::new(&image, 2);
        let sums = String::from_utf8(judge.cat("/var/cache/piimage/packages/SHA256SUMS")).unwrap();
        assert_eq!(sums.lines().count(), entries.len(), "{flavour}: {sums}");
        for entry in entries {
            let (name, version) = (
                entry["name"].as_str().unwrap(),
                entry["version"].as_str().unwrap(),
            );
            let want_arch = if name == "fail2ban" { "all" } else { arch };
            assert_eq!(entry["architecture"], want_arch, "{flavour}: {entry}");
            let file = format!("{name}_{version}_{want_arch}.deb");
            // The manifest's SHA-256 is that of the mirror's file, and of the card's copy.
            let pool = fixtures::apt_repo().join("pool/main").join(&file);
            assert_eq!(entry["sha256"], sha256(&pool), "{flavour}: {file}");
            let carried = dir.path().join(&file);
            std::fs::write(
                &carried,
                judge.cat(&format!("/var/cache/piimage/packages/{file}")),
            )
            .unwrap();
            assert_eq!(
                sha256(&carried),
                sha256(&pool),
                "{flavour}: the card's {file}"
            );
            assert!(
                sums.contains(&format!("{}  {file}", sha256(&pool))),
                "{flavour}: {sums}"
            );
            let fields = std::process::Command::new("dpkg-deb")
                .args(["-f", carried.to_str().unwrap(), "Package", "Version"])
                .output()
                .unwrap();
            assert!(fields.status.success(), "{flavour}: dpkg-deb reads {file}");
            assert_eq!(
                String::from_utf8_lossy(&fields.stdout),
                format!("Package: {name}\nVersion: {version}\n")
            );
        }
        // The installer: a shell script sh parses, and its unit enabled.
        let script = dir.path().join("install-packages");
        std::fs::write(
            &script,
            judge.cat("/usr/local/sbin/piimage-install-packages"),
        )
        .unwrap();
        let parsed = std::process::Command::new("sh")
            .arg("-n")
            .arg(&script)
            .status()
            .unwrap();
        assert!(parsed.success(), "{flavour}: sh -n refuses the installer");
        assert!(
            judge.exists("/etc/systemd/system/multi-user.target.wants/piimage-packages.service"),
            "{flavour}"
        );
        // docker.io's postinst makes the docker group at first boot; pi joins it at bake.
        let group = String::from_utf8(judge.cat("/etc/group")).unwrap();
        let docker = group
            .lines()
            .find(|l| l.starts_with("docker:"))
            .unwrap_or_default();
        assert!(docker.ends_with(":pi"), "{flavour}: {docker}");
        if flavour != "hypriot" {
            assert!(
                docker.starts_with("docker:x:999:"),
                "{flavour}: a system group: {docker}"
            );
        }

        let report: serde_json::Value = serde_json::from_str(
            &piimage_with(
                &dir.path().join("cache"),
                &["inspect", "--json", image.to_str().unwrap()],
                &[],
            )
            .stdout,
        )
        .unwrap();
        let steps = report["first_boot"]["steps"].to_string();
        assert!(
            steps.contains("installs at first boot") && steps.contains("fail2ban 1.0.2-2"),
            "{flavour}: {steps}"
        );
        let service = |name: &str| {
            report["services"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["name"] == name)
                .cloned()
                .unwrap()
        };
        assert_eq!(
            service("fail2ban")["pending_package"],
            "fail2ban",
            "{flavour}"
        );
        assert_eq!(service("fail2ban")["enabled"], true, "{flavour}");
        let docker = service("docker");
        assert_eq!(docker["enabled"], true, "{flavour}: {docker}");
        if flavour == "hypriot" {
            assert!(
                docker.get("pending_package").is_none(),
                "{flavour}: docker-ce is the base's"
            );
        } else {
            assert_eq!(docker["pending_package"], "docker.io", "{flavour}");
        }
    }
}

/// Each refusal: exit 2, the node, the package and apt's reason, and no output.
#[test]
fn what_apt_cannot_give_is_refused_with_the_package_and_the_reason() {
    let lab = lab_text();
    let lab_packages = "packages: [docker.io, fail2ban, python3-systemd]";
    let other_suite = |suite: &str| {
        format!(
            "apt: {{ sources: [\"{}\"] }}\n",
            fixtures::apt_source(suite)
        )
    };
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "bookworm",
            lab.replace(
                lab_packages,
                "packages: [docker.io, fail2ban, python3-systemd, no-such-thing]",
            ),
            vec![
                "node p1",
                "no-such-thing",
                "for arm64",
                "Unable to locate package no-such-thing",
            ],
        ),
        (
            "bookworm",
            lab.replace(
                lab_packages,
                "packages: [docker.io, fail2ban=9.9-9, python3-systemd]",
            ),
            vec![
                "fail2ban=9.9-9",
                "Version '9.9-9' for 'fail2ban' was not found",
            ],
        ),
        (
            // The mirror has haproxy for arm64 only.
            "bullseye",
            lab.replace(lab_packages, "packages: [docker.io, fail2ban, haproxy]"),
            vec!["haproxy", "for armhf", "Unable to locate package haproxy"],
        ),
        (
            "bullseye",
            lab.clone() + &other_suite("arm64-only"),
            vec![
                "for armhf",
                "the sources have no armhf packages (they offer arm64)",
            ],
        ),
        (
            "hypriot",
            // (spaced so stage_lab's HypriotOS rule leaves docker.io in)
            lab.replace(lab_packages, "packages: [ docker.io, fail2ban]"),
            vec![
                "docker.io",
                "apt would remove docker-ce",
                "piimage only adds packages",
            ],
        ),
        (
            "bookworm",
            lab.replace(lab_packages, "packages: [docker.io, fail2ban]"),
            vec![
                "node p1",
                "python3-systemd",
                "fail2ban must read the journal",
            ],
        ),
        (
            "bookworm",
            lab.replace(
                lab_packages,
                "packages: [docker.io, fail2ban, \"rm -rf /\"]",
            ),
            vec![
                "lab.yaml:",
                "packages[2] (`rm -rf /`): not a Debian package name",
            ],
        ),
        (
            "bookworm",
            lab.replace(lab_packages, "packages: []"),
            vec![
                "node p1: docker.service is not installed in the base image",
                "add `docker.io` to `packages:`",
            ],
        ),
    ];
    for (flavour, text, expect) in cases {
        let (dir, inventory) = stage_lab(&text, flavour);
        let out = dir.path().join("out");
        let run = piimage_with(
            &dir.path().join("cache"),
            &[
                "bake",
                "-c",
                inventory.to_str().unwrap(),
                "-o",
                out.to_str().unwrap(),
            ],
            &[EPOCH],
        );
        assert_eq!(run.code, 2, "{flavour}: {text}\n{}", run.stderr);
        for e in expect {
            assert!(
                run.stderr.contains(e),
                "{flavour}: `{e}` not in:\n{}",
                run.stderr
            );
        }
        assert!(!out.exists(), "{flavour}: something was written for {text}");
    }
}

/// The first bake fetches; the second, from the same inputs, needs no mirror at all and
/// makes the same bytes. Without the cache, a mirror that is gone is the machine's problem
/// (exit 3), said with apt's words.
#[test]
fn a_warm_cache_bakes_with_the_mirror_gone() {
    let (dir, inventory) = stage_lab(&lab_text(), "bookworm");
    let mirror = dir.path().join("mirror");
    let copy = std::process::Command::new("cp")
        .arg("-a")
        .arg(fixtures::apt_repo())
        .arg(&mirror)
        .status()
        .unwrap();
    assert!(copy.success());
    let text = std::fs::read_to_string(&inventory).unwrap();
    let text = text.replace(
        &fixtures::apt_repo().display().to_string(),
        &mirror.display().to_string(),
    );
    std::fs::write(&inventory, text).unwrap();
    let (_, first) = bake_staged(dir.path(), &inventory, "first", &["--node", "p1"]);
    std::fs::remove_dir_all(&mirror).unwrap();
    let (_, second) = bake_staged(dir.path(), &inventory, "second", &["--node", "p1"]);
    assert_eq!(
        sha256(&first.join("p1.img")),
        sha256(&second.join("p1.img"))
    );
    assert_eq!(
        manifest(&first)["nodes"]["p1"]["packages"],
        manifest(&second)["nodes"]["p1"]["packages"]
    );

    let cold = piimage_with(
        &dir.path().join("cold-cache"),
        &[
            "bake",
            "-c",
            inventory.to_str().unwrap(),
            "-o",
            dir.path().join("third").to_str().unwrap(),
        ],
        &[EPOCH],
    );
    assert_eq!(cold.code, 3, "{}", cold.stderr);
    assert!(cold.stderr.contains("apt update"), "{}", cold.stderr);
    assert!(!dir.path().join("third").exists());
}
