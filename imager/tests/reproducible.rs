//! Same inputs, same bytes: editing a base twice gives byte-identical images; the instant
//! stamped (SOURCE_DATE_EPOCH) is an input, so a different one gives a different image.

use fixtures::{sha256, Fixture};
use imager::fileop::{FileOp, Mode, Target};
use imager::{Epoch, Image};

fn node_ops(address: &str) -> Vec<FileOp> {
    vec![
        FileOp::Write { fs: Target::Root, path: "/etc/hostname".into(), content: "p3\n".into(), mode: None, owner: None },
        FileOp::Write {
            fs: Target::Root,
            path: "/etc/NetworkManager/system-connections/eth0.nmconnection".into(),
            content: format!("[connection]\nid=eth0\ntype=ethernet\ninterface-name=eth0\n\n[ipv4]\nmethod=manual\naddress1={address}/24,172.19.181.254\n").into_boxed_str().as_ref().into(),
            mode: Some(Mode(0o600)),
            owner: None,
        },
        FileOp::Mkdir { fs: Target::Root, path: "/var/lib/piimage/new/dirs".into(), mode: None, owner: None },
        FileOp::Write { fs: Target::Boot, path: "/ssh".into(), content: "".into(), mode: None, owner: None },
        FileOp::Write { fs: Target::Boot, path: "/piimage/seed/meta-data".into(), content: "instance-id: p3\n".into(), mode: None, owner: None },
        FileOp::Cmdline { set: vec!["cgroup_enable=memory".into()], remove: vec![] },
    ]
}

fn bake(base: &std::path::Path, ops: &[FileOp], epoch: i64, out: &std::path::Path) -> String {
    let mut image = Image::open(base).unwrap();
    image.apply(ops, Epoch(epoch)).unwrap();
    image.write_to(out).unwrap();
    sha256(out)
}

#[test]
fn same_inputs_give_identical_bytes() {
    for flavour in ["bookworm", "hypriot"] {
        let base = Fixture::new(flavour).build();
        let dir = tempfile::tempdir().unwrap();
        let first = bake(
            &base,
            &node_ops("172.19.181.3"),
            1_700_000_000,
            &dir.path().join("a.img"),
        );
        let second = bake(
            &base,
            &node_ops("172.19.181.3"),
            1_700_000_000,
            &dir.path().join("b.img"),
        );
        assert_eq!(
            first, second,
            "{flavour}: two bakes of the same inputs differ"
        );
        let later = bake(
            &base,
            &node_ops("172.19.181.3"),
            1_700_000_100,
            &dir.path().join("c.img"),
        );
        assert_ne!(
            first, later,
            "{flavour}: the epoch is stamped into the image"
        );
    }
}

#[test]
fn one_nodes_change_touches_only_its_own_bytes() {
    let base = Fixture::new("bookworm").build();
    let dir = tempfile::tempdir().unwrap();
    let mut a = Image::open(&base).unwrap();
    a.apply(&node_ops("172.19.181.3"), Epoch(1_700_000_000))
        .unwrap();
    let mut b = Image::open(&base).unwrap();
    b.apply(&node_ops("172.19.181.4"), Epoch(1_700_000_000))
        .unwrap();
    let (_, ranges_a) = a.delta();
    let (_, ranges_b) = b.delta();
    assert_eq!(ranges_a, ranges_b, "the same edits land in the same blocks");
    a.write_to(&dir.path().join("a.img")).unwrap();
    b.write_to(&dir.path().join("b.img")).unwrap();
    let bytes_a = std::fs::read(dir.path().join("a.img")).unwrap();
    let bytes_b = std::fs::read(dir.path().join("b.img")).unwrap();
    let differing = bytes_a
        .chunks(4096)
        .zip(bytes_b.chunks(4096))
        .filter(|(x, y)| x != y)
        .count();
    assert!(
        (1..=4).contains(&differing),
        "an address change differs in {differing} blocks"
    );
}
