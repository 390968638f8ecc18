//! `piimage doctor`: the list checked on this machine. CI runs the tests after
//! scripts/install.sh, so here everything piimage's commands need is present; a machine
//! without the programs is made by emptying the search path.

mod common;

use common::{piimage, piimage_with};

#[test]
fn after_install_every_command_is_ready() {
    let cache = tempfile::tempdir().unwrap();
    let run = piimage(cache.path(), &["doctor", "--json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["format"], 1);
    assert_eq!(report["ready"], true);
    for command in ["bake", "flash", "base-build", "test"] {
        assert_eq!(
            report["commands"][command]["ready"], true,
            "{command}: {report:#}"
        );
    }
    let findings = report["findings"].as_array().unwrap();
    let rows = host::list::requirements().unwrap().len();
    // One per row of the list, plus root and the two free-disk checks.
    assert_eq!(findings.len(), rows + 3);
    let arch_test = findings
        .iter()
        .find(|f| f["package"] == "arch-test")
        .unwrap();
    assert_eq!(arch_test["state"], "ok");
    assert!(arch_test["version"].is_string(), "{arch_test}");
}

#[test]
fn a_machine_without_the_programs_is_told_what_to_install_and_exits_1() {
    let cache = tempfile::tempdir().unwrap();
    let run = piimage_with(cache.path(), &["doctor"], &[("PATH", "/nonexistent")]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("✗ mmdebstrap (Debian package mmdebstrap): `mmdebstrap` not found; bootstraps the built-in base")
            && run.stdout.contains("fix: apt-get install --no-install-recommends mmdebstrap"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(
            "fix: apt-get install -t bookworm-backports --no-install-recommends qemu-system-arm"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("  piimage test         missing qemu-system-aarch64"),
        "{}",
        run.stdout
    );
    // Programs in the sbin directories are still found (they are searched whatever PATH says).
    assert!(run.stdout.contains("✓ sfdisk (fdisk"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("`bash scripts/install.sh` installs everything"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr
            .contains("error: some of piimage's commands lack what they need"),
        "{}",
        run.stderr
    );
}
