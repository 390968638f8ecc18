//! `piimage inspect` on each fixture flavour, before and after edits, as people and scripts
//! read it (insta snapshots), and on the compressed forms users download.

mod common;

use common::{piimage, redact};
use fixtures::Fixture;

fn inspect(fixture: Fixture) -> (String, String) {
    let image = fixture.build();
    let cache = tempfile::tempdir().unwrap();
    let human = piimage(cache.path(), &["inspect", image.to_str().unwrap()]);
    assert_eq!(human.code, 0, "{}", human.stderr);
    let json = piimage(
        cache.path(),
        &["inspect", "--json", image.to_str().unwrap()],
    );
    assert_eq!(json.code, 0, "{}", json.stderr);
    (
        redact(&human.stdout, &image, "[IMAGE]"),
        redact(&json.stdout, &image, "[IMAGE]"),
    )
}

macro_rules! flavour_snapshots {
    ($($name:ident: $fixture:expr;)*) => {
        $(
            #[test]
            fn $name() {
                let (human, json) = inspect($fixture);
                insta::assert_snapshot!(concat!(stringify!($name), "_human"), human);
                insta::assert_snapshot!(concat!(stringify!($name), "_json"), json);
            }
        )*
    };
}

flavour_snapshots! {
    raspios_bullseye: Fixture::new("bullseye");
    raspios_bookworm: Fixture::new("bookworm");
    raspios_trixie: Fixture::new("trixie");
    hypriot: Fixture::new("hypriot");
    debian: Fixture::new("debian");
    raspios_bookworm_gpt: Fixture::new("bookworm").gpt();
}

/// A node's worth of edits, one per mechanism inspect reads, then inspect reports them back.
#[test]
fn reports_what_apply_wrote() {
    let image = Fixture::new("bullseye").build();
    let dir = tempfile::tempdir().unwrap();
    let ops = dir.path().join("ops.yaml");
    std::fs::write(
        &ops,
        r#"
- { op: write, fs: root, path: /etc/hostname, content: "p3\n" }
- op: append
  fs: root
  path: /etc/dhcpcd.conf
  content: |
    interface eth0
    static ip_address=172.19.181.3/24
    static routers=172.19.181.254
    static domain_name_servers=172.19.181.254
- { op: write, fs: root, path: /etc/docker/daemon.json, content: "{\"insecure-registries\": [\"p1:5000\"]}\n" }
- { op: symlink, fs: root, path: /etc/systemd/system/multi-user.target.wants/docker.service, target: /lib/systemd/system/docker.service }
- { op: symlink, fs: root, path: /etc/systemd/system/cron.service, target: /dev/null }
- { op: append, fs: root, path: /home/pi/.ssh/authorized_keys, content: "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDQ2JmZjKx8oW8v4yVkgrmh3ZKcQK4yBClGTiuuYf5P0mYBKfbS0gqBXz8YV9tPmt5+fRtVvG9xzYNZ4A0+FSaz8FN1mKLYxT7UWbq6LPMZIP3cGk9O4b0s4TgvuPjWVKg6sB7/SF0xTRu8QmvAd1nN5oR1YPK5LL6KCkDp6n3Tcw== ops@lab\n" }
"#,
    )
    .unwrap();
    let out = dir.path().join("p3.img");
    let cache = dir.path().join("cache");
    let applied = piimage(
        &cache,
        &[
            "apply",
            image.to_str().unwrap(),
            "--ops",
            ops.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    let report = piimage(&cache, &["inspect", out.to_str().unwrap()]);
    assert_eq!(report.code, 0, "{}", report.stderr);
    insta::assert_snapshot!(redact(&report.stdout, &out, "[IMAGE]"));
}

/// The compressed forms users download give the same report as the raw image, and the
/// second use of a compressed base comes from the cache.
#[test]
fn compressed_bases_read_like_raw() {
    let image = Fixture::new("hypriot").build();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let raw = piimage(&cache, &["inspect", "--json", image.to_str().unwrap()]);
    let expected = redact(&raw.stdout, &image, "[IMAGE]");
    let compress = |name: &str, cmd: &str| -> std::path::PathBuf {
        let out = dir.path().join(name);
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(
                cmd.replace("IN", image.to_str().unwrap())
                    .replace("OUT", out.to_str().unwrap()),
            )
            .status()
            .unwrap();
        assert!(status.success(), "{cmd}");
        out
    };
    let inputs = [
        compress("hypriot.img.xz", "xz -0 -T2 -c IN > OUT"),
        compress("hypriot.img.gz", "gzip -1 -c IN > OUT"),
        compress("hypriot.img.zst", "zstd -q -1 -c IN > OUT"),
        compress("hypriot.zip", "cd $(dirname IN) && cp --sparse=always IN OUT.d.img && zip -q -j OUT OUT.d.img && rm OUT.d.img"),
    ];
    for input in &inputs {
        let first = piimage(&cache, &["inspect", "--json", input.to_str().unwrap()]);
        assert_eq!(first.code, 0, "{}: {}", input.display(), first.stderr);
        assert_eq!(
            redact(&first.stdout, input, "[IMAGE]"),
            expected,
            "{}",
            input.display()
        );
    }
    let cached: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "img"))
        .collect();
    assert_eq!(
        cached.len(),
        inputs.len(),
        "one decompressed copy per distinct input"
    );
    let modified: Vec<_> = cached
        .iter()
        .map(|e| e.metadata().unwrap().modified().unwrap())
        .collect();
    for input in &inputs {
        let again = piimage(&cache, &["inspect", "--json", input.to_str().unwrap()]);
        assert_eq!(again.code, 0);
    }
    let after: Vec<_> = cached
        .iter()
        .map(|e| e.metadata().unwrap().modified().unwrap())
        .collect();
    assert_eq!(modified, after, "the second use decompresses nothing");
}
