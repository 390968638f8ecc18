//! The built-in base end to end, as CI runs it on a fresh machine: built (or reused from the
//! shared test cache), judged by sfdisk and fsck, reassembled to the same bytes, baked into a
//! node, and booted in QEMU (`-M virt`, kernel and initrd from its own boot partition) until
//! its services run. Needs root and the packages scripts/install.sh installs.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::piimage_with;

/// The boot test's timings are the guest's own: the other tests' heavy work (fsck of 2 GiB,
/// a whole reassembly) waits until it is done rather than sharing the 2 cores with QEMU.
static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn heavy() -> std::sync::MutexGuard<'static, ()> {
    HEAVY.lock().unwrap_or_else(|e| e.into_inner())
}

/// One cache for every test here and every run, so the base is built once per machine.
/// The user's cache, as piimage itself uses it: the base is kept there by the hash of its
/// recipe and the mirror's indexes, so a second CI run on this machine reuses it.
fn cache_dir() -> PathBuf {
    common::shared_cache()
}

/// `piimage base build --json`: the manifest, with the image path.
fn built_base() -> serde_json::Value {
    let run = piimage_with(&cache_dir(), &["base", "build", "--json"], &[]);
    assert_eq!(run.code, 0, "base build failed:\n{}", run.stderr);
    serde_json::from_str(&run.stdout).expect("base build --json prints JSON")
}

#[test]
fn builtin_base_is_a_well_formed_pi_image() {
    let manifest = built_base();
    let _heavy = heavy();
    let image = PathBuf::from(manifest["path"].as_str().unwrap());

    let table = std::process::Command::new("sfdisk")
        .arg("--dump")
        .arg(&image)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.contains("label: dos"), "{table}");
    assert!(table.contains("label-id: 0x5eedba5e"), "{table}");
    assert!(
        table.contains("start=        8192, size=     1048576, type=c"),
        "{table}"
    );

    let fat = fixtures::fsck_fat(&image, 1);
    assert!(fat.clean, "fsck.fat:\n{}", fat.output);
    let ext4 = fixtures::e2fsck(&image, 2);
    assert!(ext4.clean, "e2fsck:\n{}", ext4.output);

    let boot = fixtures::FatJudge::new(&image, 1);
    let config = String::from_utf8(boot.read("/config.txt").expect("config.txt")).unwrap();
    assert!(
        config.contains("arm_64bit=1") && config.contains("kernel=vmlinuz-"),
        "{config}"
    );
    let cmdline = String::from_utf8(boot.read("/cmdline.txt").expect("cmdline.txt")).unwrap();
    assert!(cmdline.contains("root=LABEL=RASPIROOT"), "{cmdline}");
    for firmware in [
        "start4.elf",
        "fixup4.dat",
        "bootcode.bin",
        "bcm2711-rpi-4-b.dtb",
        "bcm2837-rpi-3-b.dtb",
    ] {
        assert!(
            boot.read(&format!("/{firmware}")).is_some(),
            "boot partition lacks {firmware}"
        );
    }

    let root = fixtures::Ext4Judge::new(&image, 2);
    assert!(root.exists("/etc/piimage-base"));
    assert!(
        !root.exists("/etc/ssh/ssh_host_ed25519_key"),
        "the base must not carry host keys"
    );
    assert!(
        root.exists("/usr/sbin/apparmor_parser"),
        "docker needs apparmor_parser"
    );
    assert!(
        root.exists("/etc/systemd/system/multi-user.target.wants/glusterd.service"),
        "glusterd must be enabled"
    );
    assert!(root.list("/usr/share/man").is_empty(), "no manual pages");
    assert!(
        !root.exists("/usr/lib/aarch64-linux-gnu/glusterfs/gsyncd"),
        "no geo-replication command (glusterd would run it at every start)"
    );

    let packages: Vec<&str> = manifest["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for wanted in [
        "systemd",
        "udev",
        "openssh-server",
        "sudo",
        "iproute2",
        "ca-certificates",
        "docker.io",
        "glusterfs-server",
        "glusterfs-client",
        "keepalived",
        "fail2ban",
        "python3",
        "cron",
        "linux-image-arm64",
        "initramfs-tools",
        "raspi-firmware",
        "apparmor",
    ] {
        assert!(packages.contains(&wanted), "{wanted} is not in the base");
    }
    assert!(!packages.contains(&"locales"), "only C.UTF-8");

    // The flavour bake will see.
    let run = piimage_with(
        &cache_dir(),
        &["inspect", "--json", image.to_str().unwrap()],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["flavour"]["id"], "builtin", "{report:#}");
}

/// Stage 2 again from the cached root filesystem: the same bytes as the cached image.
#[test]
fn builtin_base_reassembles_to_the_same_bytes() {
    let manifest = built_base();
    let _heavy = heavy();
    let image = PathBuf::from(manifest["path"].as_str().unwrap());
    let tarball = image.parent().unwrap().join("rootfs.tar");
    let dir = tempfile::tempdir().unwrap();
    let again = dir.path().join("again.img");
    ::base::build::reassemble(
        ::base::Recipe::by_name("debian-bookworm-arm64").unwrap(),
        &tarball,
        &again,
        manifest["source_date_epoch"].as_i64().unwrap(),
    )
    .unwrap();
    let facts = ::base::build::image_facts(&again).unwrap();
    assert_eq!(facts.sha256, manifest["image"]["sha256"].as_str().unwrap());
}

#[test]
fn baked_node_on_the_builtin_base_boots_with_its_services_active() {
    built_base();
    let _heavy = heavy();
    let dir = tempfile::tempdir().unwrap();
    let out = bake_inventory(dir.path(), "boot-probe.yaml");
    let image = out.join("probe1.img");
    let report = probe_report(&image, dir.path(), "piimage-probe: done", None);
    let report: Vec<&str> = report.iter().map(String::as_str).collect();
    let said = |what: &str| report.contains(&what);
    for unit in ["ssh", "docker", "glusterd", "keepalived", "fail2ban"] {
        assert!(
            said(&format!("unit {unit} active")),
            "{unit} is not active:\n{}",
            report.join("\n")
        );
    }
    assert!(
        said("system running"),
        "the system did not start cleanly:\n{}",
        report.join("\n")
    );
    assert!(
        said("hostkey-generated no"),
        "a host key was generated at boot although bake provided one"
    );
    assert!(
        said("docker-run container-ran"),
        "docker run failed:\n{}",
        report.join("\n")
    );
    assert!(
        said("docker-tls 1"),
        "dockerd does not listen on TLS port 2376"
    );
    for check in ["units-verify", "sshd-test", "fail2ban-test"] {
        assert!(
            said(&format!("{check} ok")),
            "{check} refused what bake wrote:\n{}",
            report.join("\n")
        );
    }
    let root_bytes: u64 = report
        .iter()
        .find_map(|l| l.strip_prefix("root-bytes "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the probe reports the root filesystem's size");
    let (_, root_partition) = fixtures::partition(&image, 2);
    assert!(
        root_bytes > root_partition,
        "the root filesystem ({root_bytes} bytes) did not grow past the image's partition ({root_partition} bytes)"
    );
}

/// `packages:` on the lite built-in base (no Docker, no fail2ban), end to end: resolved on
/// this machine from the base's own Debian sources, carried on the card, installed by its
/// first boot with no network, then a reboot that must not install again.
#[test]
fn lite_base_gets_docker_and_fail2ban_from_packages_at_first_boot() {
    let run = piimage_with(
        &cache_dir(),
        &["base", "build", "--variant", "lite", "--json"],
        &[],
    );
    assert_eq!(
        run.code, 0,
        "base build --variant lite failed:\n{}",
        run.stderr
    );
    let _heavy = heavy();
    let dir = tempfile::tempdir().unwrap();
    let out = bake_inventory(dir.path(), "packages-probe.yaml");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    let carried: Vec<String> = manifest["nodes"]["pkg1"]["packages"]
        .as_array()
        .expect("the manifest lists the packages")
        .iter()
        .map(|p| {
            format!(
                "{} {}",
                p["name"].as_str().unwrap(),
                p["version"].as_str().unwrap()
            )
        })
        .collect();
    eprintln!("carried: {}", carried.join(", "));
    for name in ["docker.io ", "fail2ban ", "python3-systemd ", "containerd "] {
        assert!(
            carried.iter().any(|c| c.starts_with(name)),
            "{name}: {carried:?}"
        );
    }
    let image = out.join("pkg1.img");
    // QEMU's user network with `restrict=on`: the guest reaches nothing beyond it, so the
    // card installs with no network, as in a lab room without internet. The probe reboots
    // the guest once; QEMU starts it again from the same disk.
    let offline = [
        "-netdev",
        "user,id=net0,restrict=on",
        "-device",
        "virtio-net-pci,netdev=net0,romfile=",
    ];
    let report = probe_report(
        &image,
        dir.path(),
        "piimage-probe: boot 2 done",
        Some(offline.map(String::from).to_vec()),
    );
    let said = |what: &str| report.iter().any(|l| *l == what);
    let starts = |what: &str| report.iter().any(|l| l.starts_with(what));
    for boot in [1, 2] {
        for unit in ["docker", "containerd", "fail2ban"] {
            assert!(
                said(&format!("boot {boot} unit {unit} active")),
                "boot {boot}: {unit} is not active:\n{}",
                report.join("\n")
            );
        }
        assert!(
            said(&format!("boot {boot} system running")),
            "boot {boot}: the system did not start cleanly:\n{}",
            report.join("\n")
        );
        // daemon.json's log driver and the node's labels, as dockerd reads them.
        assert!(
            said(&format!("boot {boot} docker-info journald lab=packages")),
            "boot {boot}: docker info:\n{}",
            report.join("\n")
        );
        assert!(
            said(&format!("boot {boot} f2b-maxretry 4")),
            "{}",
            report.join("\n")
        );
        assert!(
            starts(&format!("boot {boot} f2b-status Status for the jail: sshd")),
            "{}",
            report.join("\n")
        );
        assert!(
            report
                .iter()
                .any(|l| l.starts_with(&format!("boot {boot} groups "))
                    && l.split_whitespace().any(|g| g == "docker")),
            "boot {boot}: pi is not in docker:\n{}",
            report.join("\n")
        );
        assert!(
            said(&format!(
                "boot {boot} installed docker.io=install ok installed fail2ban=install ok installed python3-systemd=install ok installed"
            )),
            "{}",
            report.join("\n")
        );
        // One installation, on the first boot; only SHA256SUMS stays once it is done.
        assert!(
            said(&format!("boot {boot} install-runs 1")),
            "{}",
            report.join("\n")
        );
        assert!(
            said(&format!("boot {boot} carried 1")),
            "{}",
            report.join("\n")
        );
    }
    assert!(
        said("boot 1 installer yes success"),
        "{}",
        report.join("\n")
    );
    assert!(
        said("boot 2 installer no success"),
        "the second boot ran the installer again:\n{}",
        report.join("\n")
    );
}

/// `fixtures/inventories/NAME` baked into `DIR/images` with the shared cache.
fn bake_inventory(dir: &std::path::Path, name: &str) -> PathBuf {
    let inventory = dir.join(name);
    std::fs::copy(
        fixtures::recipe_dir().join("inventories").join(name),
        &inventory,
    )
    .unwrap();
    let out = dir.join("images");
    let run = piimage_with(
        &cache_dir(),
        &[
            "bake",
            "-c",
            inventory.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(run.code, 0, "bake of {name} failed:\n{}", run.stderr);
    out
}

/// Boots `image` in QEMU (kernel and initrd from its own boot partition, on a card 1 GiB
/// larger so the root must grow) until a console line contains `until`, and returns the
/// probe unit's report: its `piimage-probe: ` lines. With `offline_network`, that network
/// and reboots allowed; else QEMU's user network and the first shutdown ends the machine.
fn probe_report(
    image: &std::path::Path,
    dir: &std::path::Path,
    until: &str,
    offline_network: Option<Vec<String>>,
) -> Vec<String> {
    let boot = imager::bootfiles::extract(image, dir).unwrap();
    let name = image.file_stem().unwrap().to_string_lossy().into_owned();
    let mut machine = qemu::Machine::launch(qemu::MachineSpec {
        name,
        image: image.to_path_buf(),
        kernel: boot.kernel,
        initrd: boot.initrd.expect("an initramfs"),
        cmdline: boot.cmdline,
        memory_mib: 2048,
        cpus: 2,
        allow_reboot: offline_network.is_some(),
        network: offline_network.unwrap_or_default(),
        disk_size: Some(std::fs::metadata(image).unwrap().len() + (1 << 30)),
        work_dir: dir.join("qemu"),
        socket_dir: None,
    })
    .unwrap();
    let result = machine.wait_for(until, Duration::from_secs(1800), &|l| l.contains(until));
    let lines = machine.console.lines();
    let log = std::fs::read_to_string(machine.console_log()).unwrap_or_default();
    if let Err(err) = result {
        panic!("{err}\n--- whole console ---\n{log}");
    }
    let report: Vec<String> = lines
        .iter()
        .filter_map(|l| {
            l.split_once("piimage-probe: ")
                .map(|(_, r)| r.trim_end().to_string())
        })
        .collect();
    eprintln!("probe report:\n  {}", report.join("\n  "));
    report
}
