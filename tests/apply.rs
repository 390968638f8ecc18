//! `piimage apply` from the command line: separate runs give the same bytes, the base is
//! untouched, and `--json` tells a script what changed.

mod common;

use common::{piimage_with, redact};
use fixtures::{sha256, Fixture};

const OPS: &str = r#"
- { op: write, fs: root, path: /etc/hostname, content: "p2\n" }
- { op: mkdir, fs: root, path: /home/pi/.ssh, mode: "0700", owner: { uid: 1000, gid: 1000 } }
- { op: write, fs: boot, path: /ssh, content: "" }
- { op: cmdline, set: [cgroup_enable=memory] }
"#;

#[test]
fn two_runs_give_identical_images() {
    let base = Fixture::new("bullseye").build();
    let before = sha256(&base);
    let dir = tempfile::tempdir().unwrap();
    let ops = dir.path().join("ops.yaml");
    std::fs::write(&ops, OPS).unwrap();
    let mut sums = Vec::new();
    let mut summaries = Vec::new();
    for name in ["a.img", "b.img"] {
        let out = dir.path().join(name);
        let run = piimage_with(
            &dir.path().join("cache"),
            &[
                "apply",
                base.to_str().unwrap(),
                "--ops",
                ops.to_str().unwrap(),
                "-o",
                out.to_str().unwrap(),
                "--json",
            ],
            &[("SOURCE_DATE_EPOCH", "1700000000")],
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        let summary: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(summary["operations"], 4);
        assert_eq!(summary["epoch"], 1_700_000_000);
        assert!(summary["delta_bytes"].as_u64().unwrap() > 0);
        summaries.push(redact(&run.stdout, &out, "[OUT]"));
        sums.push(sha256(&out));
    }
    assert_eq!(summaries[0], summaries[1]);
    insta::assert_snapshot!(summaries[0]);
    assert_eq!(sums[0], sums[1], "byte-identical across processes");
    assert_eq!(sha256(&base), before, "the base is untouched");
}
