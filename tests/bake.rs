//! `piimage bake`: one fsck-clean image per node with a manifest that tells the truth, the
//! same bytes from the same inputs, a change to one node touching only that node's image, and
//! bad input refused before anything is written.

mod common;

use std::path::{Path, PathBuf};

use common::{lab_text, piimage_with, redact, Run};
use fixtures::{e2fsck, fsck_fat, sha256};

fn lab(inventory_text: &str) -> (tempfile::TempDir, PathBuf) {
    common::stage_lab(inventory_text, "bookworm")
}

fn bake(dir: &Path, inventory: &Path, out: &str) -> (Run, serde_json::Value) {
    let (run, out) = common::bake_staged(dir, inventory, out, &["--json", "--sha256"]);
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    (run, manifest)
}

fn image_sums(manifest: &serde_json::Value) -> Vec<(String, String)> {
    manifest["nodes"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(n, v)| (n.clone(), v["chunks_sha256"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn bakes_clean_images_the_same_twice() {
    let (dir, inventory) = lab(&lab_text());
    let (_, first) = bake(dir.path(), &inventory, "a");
    for (node, sum) in image_sums(&first) {
        let image = dir.path().join("a").join(format!("{node}.img"));
        assert_eq!(
            fixtures::chunks_sha256(&image),
            sum,
            "{node}: the manifest's chunk digest is the image's"
        );
        assert_eq!(
            first["nodes"][&node]["sha256"].as_str(),
            Some(sha256(&image).as_str()),
            "{node}: --sha256 is the file's"
        );
        let root = e2fsck(&image, 2);
        assert!(root.clean, "{node}: {}", root.output);
        let boot = fsck_fat(&image, 1);
        assert!(boot.clean, "{node}: {}", boot.output);
        let logo = fixtures::Ext4Judge::new(&image, 2).cat("/usr/share/lab/logo.png");
        let source = std::fs::read(fixtures::recipe_dir().join("inventories/logo.png")).unwrap();
        assert_eq!(
            logo, source,
            "{node}: a binary source arrives byte for byte"
        );
    }
    let (_, second) = bake(dir.path(), &inventory, "b");
    assert_eq!(first, second, "same inputs, same manifest and images");
    assert_eq!(first["nodes"].as_object().unwrap().len(), 3);
}

#[test]
fn one_nodes_change_changes_only_its_image() {
    let (dir, inventory) = lab(&lab_text());
    let (_, before) = bake(dir.path(), &inventory, "before");
    std::fs::write(
        &inventory,
        common::for_fixture(
            &lab_text().replace("log-driver: journald", "log-driver: json-file"),
            "bookworm",
        ),
    )
    .unwrap();
    let (_, after) = bake(dir.path(), &inventory, "after");
    let (before, after) = (image_sums(&before), image_sums(&after));
    for ((node, old), (_, new)) in before.iter().zip(&after) {
        if node == "p2" {
            assert_ne!(old, new, "p2's own setting changed");
        } else {
            assert_eq!(old, new, "{node} did not change");
        }
    }
}

#[test]
fn bad_inventory_writes_nothing() {
    let (dir, inventory) = lab(&lab_text().replace(
        "p3:\n    address: 172.19.181.3/24",
        "p3:\n    address: 172.19.181.2/24",
    ));
    let out = dir.path().join("images");
    let run = piimage_with(
        &dir.path().join("cache"),
        &[
            "bake",
            "-c",
            inventory.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(!out.exists(), "nothing written");
    insta::assert_snapshot!(redact(&run.stderr, dir.path(), "[DIR]"), @"error: [DIR]/lab.yaml:51:5: node p3: address 172.19.181.2 is already node p2's");
}

#[test]
fn unknown_node_is_named() {
    let (dir, inventory) = lab(&lab_text());
    let run = piimage_with(
        &dir.path().join("cache"),
        &["bake", "-c", inventory.to_str().unwrap(), "--node", "p9"],
        &[],
    );
    assert_eq!(run.code, 2);
    insta::assert_snapshot!(redact(&run.stderr, dir.path(), "[DIR]"), @"error: [DIR]/lab.yaml: no node `p9` (nodes: p1, p2, p3)");
}

/// The host key baked into a node is a valid OpenSSH key (ssh-keygen derives its public key),
/// and it is the key `known_hosts` lists for that node's name and address.
#[test]
fn host_keys_match_known_hosts() {
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;
    let (dir, inventory) = lab(&lab_text());
    bake(dir.path(), &inventory, "out");
    let known_hosts = std::fs::read_to_string(dir.path().join("out/known_hosts")).unwrap();
    assert_eq!(known_hosts.lines().count(), 3, "{known_hosts}");
    for (node, address) in [("p1", "172.19.181.1"), ("p3", "172.19.181.3")] {
        let image = dir.path().join(format!("out/{node}.img"));
        let root = fixtures::Ext4Judge::new(&image, 2);
        assert_eq!(
            root.mode_owner("/etc/ssh/ssh_host_ed25519_key"),
            Some((0o600, 0, 0))
        );
        let key = dir.path().join(format!("{node}.key"));
        std::fs::write(&key, root.cat("/etc/ssh/ssh_host_ed25519_key")).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        let derived = Command::new("ssh-keygen")
            .arg("-y")
            .arg("-f")
            .arg(&key)
            .output()
            .unwrap();
        assert!(
            derived.status.success(),
            "ssh-keygen -y: {}",
            String::from_utf8_lossy(&derived.stderr)
        );
        let public = String::from_utf8(derived.stdout).unwrap();
        let public = public
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        let line = known_hosts
            .lines()
            .find(|l| l.starts_with(&format!("{node},{address} ")))
            .unwrap();
        assert!(line.ends_with(&public), "{node}: {line} vs {public}");
        assert_eq!(
            root.cat("/etc/ssh/ssh_known_hosts"),
            known_hosts.as_bytes(),
            "nodes trust each other"
        );
    }
}

/// A plaintext password needs the opt-in, earns a warning, and lands hashed in /etc/shadow
/// (checked by openssl deriving the same hash from the same salt).
#[test]
fn plaintext_password_is_baked_hashed_with_a_warning() {
    let text = lab_text().replace(
        "    - name: pi\n      password_hash: \"$6$saltsalt$0GhM8J3B8N7lq1wJb9Q3sI4cYQnq5B3E7ZxW6yI2f9U5rJ8mKp0Lh3Vd2Xs1Ca4Bt7Nw6Qe9Ry5Tu8Io2Pa1\"",
        "    - name: pi\n      plaintext_password: raspberry\n      allow_plaintext_password: true",
    );
    assert!(
        text.contains("plaintext_password"),
        "the lab's user block changed shape"
    );
    let (dir, inventory) = lab(&text);
    let out = dir.path().join("images");
    let run = piimage_with(
        &dir.path().join("cache"),
        &[
            "bake",
            "-c",
            inventory.to_str().unwrap(),
            "--node",
            "p1",
            "-o",
            out.to_str().unwrap(),
        ],
        &[("SOURCE_DATE_EPOCH", "1700000000")],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("warning:") && run.stderr.contains("user pi has a plaintext password"),
        "{}",
        run.stderr
    );
    let shadow = fixtures::Ext4Judge::new(&out.join("p1.img"), 2).cat("/etc/shadow");
    let shadow = String::from_utf8(shadow).unwrap();
    let hash = shadow
        .lines()
        .find_map(|l| l.strip_prefix("pi:"))
        .unwrap()
        .split(':')
        .next()
        .unwrap()
        .to_string();
    let salt = hash.split('$').nth(2).unwrap();
    let openssl = std::process::Command::new("openssl")
        .args(["passwd", "-6", "-salt", salt, "raspberry"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(openssl.stdout).unwrap().trim(), hash);
}

/// Docker on TCP with TLS: the node's certificate and the admins' client certificate both
/// verify against the cluster CA (openssl is the judge), the node's name and address are in
/// its certificate, daemon.json asks for verification, and the unit no longer passes -H.
#[test]
fn docker_tls_certificates_verify() {
    use std::process::Command;
    let (dir, inventory) = lab(&lab_text());
    bake(dir.path(), &inventory, "out");
    let root = fixtures::Ext4Judge::new(&dir.path().join("out/p1.img"), 2);
    let put = |name: &str, bytes: Vec<u8>| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let ca = put("node-ca.pem", root.cat("/etc/docker/tls/ca.pem"));
    let server = put("server.pem", root.cat("/etc/docker/tls/server-cert.pem"));
    assert_eq!(
        root.mode_owner("/etc/docker/tls/server-key.pem"),
        Some((0o600, 0, 0))
    );
    let client = dir.path().join("out/docker-tls/cert.pem");
    assert_eq!(
        std::fs::read(dir.path().join("out/docker-tls/ca.pem")).unwrap(),
        std::fs::read(&ca).unwrap()
    );
    for cert in [&server, &client] {
        let verify = Command::new("openssl")
            .arg("verify")
            .arg("-CAfile")
            .arg(&ca)
            .arg(cert)
            .output()
            .unwrap();
        assert!(
            verify.status.success(),
            "{}{}",
            String::from_utf8_lossy(&verify.stdout),
            String::from_utf8_lossy(&verify.stderr)
        );
    }
    let text = Command::new("openssl")
        .args([
            "x509",
            "-noout",
            "-ext",
            "subjectAltName,extendedKeyUsage",
            "-in",
        ])
        .arg(&server)
        .output()
        .unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains("DNS:p1")
            && text.contains("IP Address:172.19.181.1")
            && text.contains("TLS Web Server Authentication"),
        "{text}"
    );
    let daemon: serde_json::Value =
        serde_json::from_slice(&root.cat("/etc/docker/daemon.json")).unwrap();
    assert_eq!(daemon["tlsverify"], true);
    assert_eq!(
        daemon["hosts"],
        serde_json::json!(["fd://", "tcp://0.0.0.0:2376"])
    );
    let dropin =
        String::from_utf8(root.cat("/etc/systemd/system/docker.service.d/50-piimage-hosts.conf"))
            .unwrap();
    let exec = dropin.lines().last().unwrap();
    assert!(
        dropin.contains("ExecStart=\n")
            && exec
                == "ExecStart=/usr/sbin/dockerd --containerd=/run/containerd/containerd.sock $DOCKER_OPTS",
        "{dropin}"
    );
}
