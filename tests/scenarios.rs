//! `piimage test` before anything boots: every bad scenario is refused with its file, line and
//! column (exit 2, no QEMU started, no artifacts), `--dry-run` prints the plan, the shipped
//! scenarios check, and the published schema is current.

mod common;

use std::path::PathBuf;

use common::piimage;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_bad_scenario_exits_2_with_its_place_and_boots_nothing() {
    let cache = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("fixtures/scenarios/bad"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 15, "the corpus keeps at least 15 cases");
    let mut report = String::new();
    for file in &files {
        let rel = file.strip_prefix(repo()).unwrap();
        let run = common::piimage_with(
            cache.path(),
            &[
                "test",
                rel.to_str().unwrap(),
                "--artifacts",
                tmp.path().to_str().unwrap(),
            ],
            &[],
        );
        assert_eq!(run.code, 2, "{}: {}", rel.display(), run.stderr);
        let first = run.stderr.lines().next().unwrap_or("");
        assert!(
            first.contains(".yaml:")
                && first
                    .split(':')
                    .nth(2)
                    .is_some_and(|l| l.parse::<u32>().is_ok()),
            "{}: no line and column in: {first}",
            rel.display()
        );
        report.push_str(&run.stderr);
    }
    // Nothing started: no artifacts, no bake.
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    assert!(!cache.path().join("test-bakes").exists());
    insta::assert_snapshot!(report);
}

#[test]
fn dry_run_prints_the_plan_of_the_shipped_smoke_scenario() {
    let cache = tempfile::tempdir().unwrap();
    let run = piimage(cache.path(), &["test", "scenarios/smoke.yaml", "--dry-run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!(run.stdout);
}

#[test]
fn every_shipped_scenario_checks() {
    // The lab's scenarios carry the stack's images: a check reads that they are there.
    common::lab_images();
    let cache = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(repo().join("scenarios")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let rel = path.strip_prefix(repo()).unwrap();
            let run = piimage(cache.path(), &["test", rel.to_str().unwrap(), "--dry-run"]);
            assert_eq!(run.code, 0, "{}: {}", rel.display(), run.stderr);
        }
    }
}

#[test]
fn published_scenario_schema_is_current() {
    let published = repo().join("docs/scenario.schema.json");
    let current = serde_json::to_string_pretty(&qemu::scenario::check::schema()).unwrap() + "\n";
    if std::env::var_os("PIIMAGE_UPDATE_SCHEMA").is_some() {
        std::fs::write(&published, &current).unwrap();
    }
    let on_disk = std::fs::read_to_string(&published).unwrap_or_default();
    assert!(
        on_disk == current,
        "docs/scenario.schema.json is stale: run PIIMAGE_UPDATE_SCHEMA=1 cargo test --test scenarios"
    );
}
