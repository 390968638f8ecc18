//! Every file operation, on every fixture flavour, with 1 KiB and 4 KiB ext4 blocks and with
//! metadata checksums on and off: the result must be fsck-clean (e2fsck, fsck.fat) and read
//! back by debugfs and mtools exactly as written: content, mode, owner, link target.

use fixtures::{e2fsck, fsck_fat, Ext4Judge, FatJudge, Fixture};
use imager::fileop::{Content, FileOp, Mode, Owner, Target};
use imager::{Epoch, Image};

const EPOCH: i64 = 1_710_000_000;

fn every_op() -> Vec<FileOp> {
    let root = Target::Root;
    let owner = |uid, gid| Some(Owner { uid, gid });
    let big = "0123456789abcdef".repeat(5000); // 80 KB: more than one extent block on 1 KiB
    vec![
        FileOp::Write { fs: root, path: "/etc/hostname".into(), content: "p7\n".into(), mode: None, owner: None },
        FileOp::Write { fs: root, path: "/etc/piimage/big.bin".into(), content: Content::Text(big), mode: Some(Mode(0o640)), owner: owner(0, 4) },
        FileOp::Append { fs: root, path: "/etc/hosts".into(), content: "172.19.181.2\tp2\n".into() },
        FileOp::Mkdir { fs: root, path: "/home/lab/.ssh".into(), mode: Some(Mode(0o700)), owner: owner(1001, 1001) },
        FileOp::Write {
            fs: root,
            path: "/home/lab/.ssh/authorized_keys".into(),
            content: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMiF2hsK1ujjRrK37hRaSEsdmtJHPWMfzAtxZy7FnZxn admin@lab\n".into(),
            mode: Some(Mode(0o600)),
            owner: owner(1001, 1001),
        },
        FileOp::Symlink {
            fs: root,
            path: "/etc/systemd/system/multi-user.target.wants/fail2ban.service".into(),
            target: "/lib/systemd/system/fail2ban.service".into(),
            owner: None,
        },
        // Through the merged-/usr symlink /lib -> usr/lib on the flavours that have it.
        FileOp::Write { fs: root, path: "/lib/systemd/system/piimage-first.service".into(), content: "[Unit]\nDescription=first\n".into(), mode: None, owner: None },
        FileOp::Remove { fs: root, path: "/etc/package-007.conf".into() },
        FileOp::Remove { fs: root, path: "/etc/alternatives.d".into() },
        FileOp::Chmod { fs: root, path: "/usr/bin/tool-001".into(), mode: Mode(0o4755) },
        FileOp::Chown { fs: root, path: "/etc/package-001.conf".into(), owner: Owner { uid: 33, gid: 33 } },
        FileOp::Touch { fs: root, path: "/etc/package-002.conf".into(), mtime: 1_600_000_000 },
        FileOp::Write { fs: Target::Boot, path: "/ssh".into(), content: "".into(), mode: None, owner: None },
        FileOp::Write { fs: Target::Boot, path: "/piimage/node-configuration/network-config".into(), content: "version: 2\n".into(), mode: None, owner: None },
        FileOp::Append { fs: Target::Boot, path: "/LICENCE.broadcom".into(), content: "baked by piimage\n".into() },
        FileOp::Remove { fs: Target::Boot, path: "/overlays/uart5.dtbo".into() },
        FileOp::Cmdline { set: vec!["cgroup_enable=memory".into(), "cgroup_memory=1".into()], remove: vec!["fsck.repair".into()] },
        FileOp::ConfigTxt { section: "all".into(), lines: vec!["enable_uart=1".into(), "arm_64bit=1".into()] },
    ]
}

fn check(fixture: Fixture) {
    let base = fixture.build();
    let base_sha = fixtures::sha256(&base);
    let mut image = Image::open(&base).unwrap();
    let old_hosts = Ext4Judge::new(&base, 2).cat("/etc/hosts");
    let old_licence = FatJudge::new(&base, 1).read("/LICENCE.broadcom").unwrap();
    image.apply(&every_op(), Epoch(EPOCH)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("node.img");
    image.write_to(&out).unwrap();
    assert_eq!(
        fixtures::sha256(&base),
        base_sha,
        "the base is never written"
    );

    let ext = e2fsck(&out, 2);
    assert!(ext.clean, "{}: e2fsck -fn:\n{}", fixture.name(), ext.output);
    let fat = fsck_fat(&out, 1);
    assert!(
        fat.clean,
        "{}: fsck.fat -n:\n{}",
        fixture.name(),
        fat.output
    );

    let root = Ext4Judge::new(&out, 2);
    assert_eq!(root.cat("/etc/hostname"), b"p7\n");
    assert_eq!(
        root.cat("/etc/piimage/big.bin"),
        "0123456789abcdef".repeat(5000).as_bytes()
    );
    assert_eq!(root.mode_owner("/etc/piimage/big.bin"), Some((0o640, 0, 4)));
    assert_eq!(
        root.mode_owner("/etc/piimage"),
        Some((0o755, 0, 0)),
        "parents are made 0755 root"
    );
    let mut hosts = old_hosts;
    hosts.extend_from_slice(b"172.19.181.2\tp2\n");
    assert_eq!(root.cat("/etc/hosts"), hosts);
    assert_eq!(root.mode_owner("/home/lab/.ssh"), Some((0o700, 1001, 1001)));
    assert_eq!(
        root.mode_owner("/home/lab/.ssh/authorized_keys"),
        Some((0o600, 1001, 1001))
    );
    assert_eq!(root.mode_owner("/home/lab"), Some((0o755, 0, 0)));
    let link = root.debugfs("stat /etc/systemd/system/multi-user.target.wants/fail2ban.service");
    assert!(
        link.contains("Type: symlink") && link.contains("\"/lib/systemd/system/fail2ban.service\""),
        "{link}"
    );
    let unit_dir = if root.debugfs("stat /lib").contains("Type: symlink") {
        "/usr/lib"
    } else {
        "/lib"
    };
    assert_eq!(
        root.cat(&format!("{unit_dir}/systemd/system/piimage-first.service")),
        b"[Unit]\nDescription=first\n"
    );
    assert!(!root.exists("/etc/package-007.conf"));
    assert!(!root.exists("/etc/alternatives.d"));
    assert!(root.exists("/etc/package-008.conf"));
    assert_eq!(root.mode_owner("/usr/bin/tool-001"), Some((0o4755, 0, 0)));
    assert_eq!(
        root.mode_owner("/etc/package-001.conf"),
        Some((0o644, 33, 33))
    );
    let touched = root.debugfs("stat /etc/package-002.conf");
    assert!(touched.contains("mtime: 0x5f5e1000"), "{touched}");
    let created = root.debugfs("stat /etc/hostname");
    assert!(
        created.contains(&format!("ctime: 0x{EPOCH:08x}")),
        "stamped with the epoch: {created}"
    );

    let boot = FatJudge::new(&out, 1);
    assert_eq!(boot.read("/ssh").unwrap(), b"");
    assert_eq!(
        boot.read("/piimage/node-configuration/network-config")
            .unwrap(),
        b"version: 2\n"
    );
    let mut licence = old_licence;
    licence.extend_from_slice(b"baked by piimage\n");
    assert_eq!(boot.read("/LICENCE.broadcom").unwrap(), licence);
    assert!(boot.read("/overlays/uart5.dtbo").is_none());
    assert!(boot.read("/overlays/w1-gpio.dtbo").is_some());
    let cmdline = String::from_utf8(boot.read("/cmdline.txt").unwrap()).unwrap();
    // Added at the end, after the flavour's own first-boot arguments (which stay).
    assert!(
        cmdline.contains(" rootwait")
            && cmdline.ends_with(" cgroup_enable=memory cgroup_memory=1\n"),
        "{cmdline}"
    );
    assert!(!cmdline.contains("fsck.repair"), "{cmdline}");
    let config = String::from_utf8(boot.read("/config.txt").unwrap()).unwrap();
    assert!(config.ends_with("[all]\nenable_uart=1\n"), "{config}");
    assert_eq!(
        config.matches("arm_64bit=1").count(),
        1,
        "an existing key is not added twice"
    );
}

macro_rules! matrix {
    ($($name:ident: $flavour:literal, $bs:literal, $csum:literal;)*) => {
        $(
            #[test]
            fn $name() {
                check(Fixture::new($flavour).block_size($bs).metadata_csum($csum));
            }
        )*
    };
}

matrix! {
    bullseye_4k_csum: "bullseye", 4096, true;
    bullseye_4k_plain: "bullseye", 4096, false;
    bullseye_1k_csum: "bullseye", 1024, true;
    bullseye_1k_plain: "bullseye", 1024, false;
    bookworm_4k_csum: "bookworm", 4096, true;
    bookworm_4k_plain: "bookworm", 4096, false;
    bookworm_1k_csum: "bookworm", 1024, true;
    bookworm_1k_plain: "bookworm", 1024, false;
    trixie_4k_csum: "trixie", 4096, true;
    trixie_4k_plain: "trixie", 4096, false;
    trixie_1k_csum: "trixie", 1024, true;
    trixie_1k_plain: "trixie", 1024, false;
    hypriot_4k_csum: "hypriot", 4096, true;
    hypriot_4k_plain: "hypriot", 4096, false;
    hypriot_1k_csum: "hypriot", 1024, true;
    hypriot_1k_plain: "hypriot", 1024, false;
    debian_4k_csum: "debian", 4096, true;
    debian_1k_plain: "debian", 1024, false;
}

#[test]
fn bookworm_under_gpt() {
    check(Fixture::new("bookworm").gpt());
}

#[test]
fn fat_refuses_what_it_cannot_hold() {
    let base = Fixture::new("bookworm").build();
    let mut image = Image::open(&base).unwrap();
    let err = image
        .apply(
            &[FileOp::Chmod {
                fs: Target::Boot,
                path: "/config.txt".into(),
                mode: Mode(0o600),
            }],
            Epoch(EPOCH),
        )
        .unwrap_err();
    assert_eq!(err.to_string(), "file operation 1 (chmod /config.txt): FAT filesystem does not support permission modes (/config.txt)");
    assert_eq!(image.delta().0, 0, "a failed apply leaves no delta");
}

#[test]
fn a_failing_op_discards_everything() {
    let base = Fixture::new("bookworm").build();
    let mut image = Image::open(&base).unwrap();
    let ops = vec![
        FileOp::Write {
            fs: Target::Root,
            path: "/etc/hostname".into(),
            content: "x\n".into(),
            mode: None,
            owner: None,
        },
        FileOp::Write {
            fs: Target::Root,
            path: "/etc/hostname/child".into(),
            content: "x\n".into(),
            mode: None,
            owner: None,
        },
    ];
    let err = image.apply(&ops, Epoch(EPOCH)).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("file operation 2 (write /etc/hostname/child)"),
        "{err}"
    );
    assert_eq!(image.delta().0, 0);
}
