//! The programs that read bake's files on the Pi, judging them here: cloud-init's own
//! `schema` and `devel net-convert` (22.4, Debian bookworm's and the oldest Debian has, and
//! 25.1, trixie's, which Raspberry Pi OS trixie ships),
//! `netplan generate`, `sshd -t`, `fail2ban-client -t` and NetworkManager's keyfile reader
//! (`nmcli --offline`). Each judge is also shown a file it must refuse, so none can pass
//! by accepting anything.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::lab_text;

fn bake(flavour: &'static str) -> (tempfile::TempDir, PathBuf) {
    let (dir, inventory) = common::stage_lab(&lab_text(), flavour);
    let out = common::bake_staged(dir.path(), &inventory, "out", &[]).1;
    (dir, out.join("p1.img"))
}

fn boot_file(image: &Path, path: &str) -> Vec<u8> {
    fixtures::FatJudge::new(image, 1)
        .read(path)
        .unwrap_or_else(|| panic!("{} has no {path} on its boot partition", image.display()))
}

fn root_file(image: &Path, path: &str) -> Vec<u8> {
    fixtures::Ext4Judge::new(image, 2).cat(path)
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The Debian releases whose cloud-init judges the seeds: bookworm's 22.4 (the oldest Debian
/// has, for HypriotOS's far older one too) and trixie's 25.1 (what Raspberry Pi OS trixie
/// ships).
const CLOUD_INITS: [&str; 2] = ["bookworm", "trixie"];

/// cloud-init of `suite` unpacked from Debian's package (fixtures/readers/cloud-init.sh),
/// once per run: the tests here run in parallel, and one must not read a tree while another
/// unpacks it.
fn cloud_init_root(suite: &str) -> PathBuf {
    static ROOTS: std::sync::Mutex<Vec<(String, PathBuf)>> = std::sync::Mutex::new(Vec::new());
    let mut roots = ROOTS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, root)) = roots.iter().find(|(s, _)| s == suite) {
        return root.clone();
    }
    let root =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("readers/cloud-init-{suite}"));
    let fetched = Command::new("bash")
        .arg(fixtures::recipe_dir().join("readers/cloud-init.sh"))
        .arg(&root)
        .arg(suite)
        .status()
        .unwrap();
    assert!(
        fetched.success(),
        "fixtures/readers/cloud-init.sh {suite} failed"
    );
    roots.push((suite.to_string(), root.clone()));
    root
}

/// cloud-init's own command line (of `suite`), run with Debian's Python.
fn cloud_init(suite: &str, args: &[&str]) -> Output {
    let root = cloud_init_root(suite);
    Command::new("/usr/bin/python3")
        .args(["-m", "cloudinit.cmd.main"])
        .args(args)
        .env("PYTHONPATH", root.join("usr/lib/python3/dist-packages"))
        .output()
        .unwrap()
}

fn schema(suite: &str, file: &Path) -> Output {
    cloud_init(suite, &["schema", "--config-file", file.to_str().unwrap()])
}

fn net_convert(suite: &str, file: &Path, out: &Path) -> Output {
    cloud_init(
        suite,
        &[
            "devel",
            "net-convert",
            "--network-data",
            file.to_str().unwrap(),
            "--kind",
            "yaml",
            "--directory",
            out.to_str().unwrap(),
            "--distro",
            "debian",
            "--output-kind",
            "networkd",
        ],
    )
}

#[test]
fn cloud_init_accepts_the_seeds_bake_writes() {
    for flavour in ["trixie", "hypriot"] {
        let (dir, image) = bake(flavour);
        let user_data = dir.path().join("user-data");
        std::fs::write(&user_data, boot_file(&image, "/user-data")).unwrap();
        let network = dir.path().join("network-config");
        std::fs::write(&network, boot_file(&image, "/network-config")).unwrap();
        for suite in CLOUD_INITS {
            let context = format!("{flavour} seeds, {suite}'s cloud-init");
            let checked = schema(suite, &user_data);
            assert!(checked.status.success(), "{context}: {}", text(&checked));
            assert!(
                text(&checked).contains("Valid"),
                "{context}: {}",
                text(&checked)
            );

            let rendered = dir.path().join(format!("networkd-{suite}"));
            let converted = net_convert(suite, &network, &rendered);
            assert!(
                converted.status.success(),
                "{context}: {}",
                text(&converted)
            );
            let unit = std::fs::read_to_string(
                rendered.join("etc/systemd/network/10-cloud-init-eth0.network"),
            )
            .unwrap();
            for line in [
                "Address=172.19.181.1/24",
                "Destination=0.0.0.0/0",
                "Gateway=172.19.181.254",
                "DNS=172.19.181.254",
            ] {
                assert!(unit.contains(line), "{context}: no {line} in\n{unit}");
            }
        }
    }
}

/// The forms bake wrote before: cloud-init 22.4 refuses each.
#[test]
fn cloud_init_refuses_what_bake_used_to_write() {
    let dir = tempfile::tempdir().unwrap();
    let user_data = dir.path().join("user-data");
    std::fs::write(
        &user_data,
        "#cloud-config\nusers: []\nssh_genkeytypes: []\n",
    )
    .unwrap();
    let network = dir.path().join("network-config");
    std::fs::write(
        &network,
        "network:\n  version: 2\n  ethernets:\n    eth0:\n      addresses: [10.0.0.2/24]\n      routes:\n        - to: default\n          via: 10.0.0.1\n",
    )
    .unwrap();
    for suite in CLOUD_INITS {
        let checked = schema(suite, &user_data);
        assert!(!checked.status.success(), "{suite}");
        assert!(
            text(&checked).contains("ssh_genkeytypes: [] is too short"),
            "{suite}: {}",
            text(&checked)
        );
        // 22.4 also wants at least one user; 25.1 reads an empty list as none.
        assert_eq!(
            text(&checked).contains("users: [] is too short"),
            suite == "bookworm",
            "{suite}: {}",
            text(&checked)
        );

        let converted = net_convert(suite, &network, &dir.path().join(format!("out-{suite}")));
        assert!(!converted.status.success(), "{suite}");
        assert!(
            text(&converted).contains("Address default is not a valid ip address"),
            "{suite}: {}",
            text(&converted)
        );
    }
}

/// netplan reads the same network-config on trixie (cloud-init hands it to netplan there).
#[test]
fn netplan_generates_from_the_network_config() {
    let (dir, image) = bake("trixie");
    let root = dir.path().join("root");
    let netplan = root.join("etc/netplan");
    std::fs::create_dir_all(&netplan).unwrap();
    let config = netplan.join("50-cloud-init.yaml");
    std::fs::write(&config, boot_file(&image, "/network-config")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    let generated = Command::new("netplan")
        .args(["generate", "--root-dir"])
        .arg(&root)
        .output()
        .unwrap();
    assert!(generated.status.success(), "{}", text(&generated));
    let unit =
        std::fs::read_to_string(root.join("run/systemd/network/10-netplan-eth0.network")).unwrap();
    assert!(unit.contains("Address=172.19.181.1/24"), "{unit}");
    assert!(unit.contains("Gateway=172.19.181.254"), "{unit}");

    // A network-config netplan must refuse: an address without a prefix.
    std::fs::write(
        &config,
        "network:\n  version: 2\n  ethernets:\n    eth0:\n      addresses: [10.0.0.2]\n",
    )
    .unwrap();
    let refused = Command::new("netplan")
        .args(["generate", "--root-dir"])
        .arg(&root)
        .output()
        .unwrap();
    assert!(!refused.status.success(), "{}", text(&refused));
}

/// sshd reads the image's own sshd_config with bake's drop-in and host key.
#[test]
fn sshd_accepts_the_drop_in_and_the_host_key() {
    use std::os::unix::fs::PermissionsExt;
    for flavour in ["bullseye", "bookworm"] {
        let (dir, image) = bake(flavour);
        let etc = dir.path().join("ssh");
        std::fs::create_dir_all(&etc).unwrap();
        let drop_in = etc.join("50-piimage.conf");
        std::fs::write(
            &drop_in,
            root_file(&image, "/etc/ssh/sshd_config.d/50-piimage.conf"),
        )
        .unwrap();
        let key = etc.join("ssh_host_ed25519_key");
        std::fs::write(&key, root_file(&image, "/etc/ssh/ssh_host_ed25519_key")).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        let main = String::from_utf8(root_file(&image, "/etc/ssh/sshd_config")).unwrap();
        let main = main.replace(
            "Include /etc/ssh/sshd_config.d/*.conf",
            &format!(
                "Include {}/*.conf\nHostKey {}",
                etc.display(),
                key.display()
            ),
        );
        let config = etc.join("sshd_config");
        std::fs::write(&config, &main).unwrap();
        let sshd = |config: &Path| {
            std::fs::create_dir_all("/run/sshd").ok();
            Command::new("sshd")
                .arg("-t")
                .arg("-f")
                .arg(config)
                .output()
                .unwrap()
        };
        let checked = sshd(&config);
        assert!(checked.status.success(), "{flavour}: {}", text(&checked));

        // sshd refuses a drop-in with a value it does not know.
        std::fs::write(&drop_in, "PasswordAuthentication perhaps\n").unwrap();
        let refused = sshd(&config);
        assert!(
            !refused.status.success(),
            "{flavour}: sshd took a bad drop-in"
        );
    }
}

/// fail2ban reads bake's jail.local over the package's own configuration.
#[test]
fn fail2ban_accepts_the_jails() {
    for flavour in ["bullseye", "bookworm"] {
        let (dir, image) = bake(flavour);
        let config = dir.path().join("fail2ban");
        let copied = Command::new("cp")
            .arg("-r")
            .arg("/etc/fail2ban")
            .arg(&config)
            .status()
            .unwrap();
        assert!(copied.success());
        // The package's own jail.d (Debian enables sshd there) stays; bake's jail.local goes
        // on top. The logs a file backend watches must exist: auth.log is pointed into the
        // test's folder (paths-overrides.local, read after paths-debian.conf); recidive's
        // /var/log/fail2ban.log is the package's own log.
        let auth_log = dir.path().join("auth.log");
        std::fs::write(&auth_log, "").unwrap();
        std::fs::write(
            config.join("paths-overrides.local"),
            format!("[DEFAULT]\nsyslog_authpriv = {}\n", auth_log.display()),
        )
        .unwrap();
        if !Path::new("/var/log/fail2ban.log").exists() {
            std::fs::write("/var/log/fail2ban.log", "").unwrap();
        }
        std::fs::write(
            config.join("jail.local"),
            root_file(&image, "/etc/fail2ban/jail.local"),
        )
        .unwrap();
        let fail2ban = |config: &Path| {
            Command::new("fail2ban-client")
                .arg("-c")
                .arg(config)
                .arg("-t")
                .output()
                .unwrap()
        };
        let checked = fail2ban(&config);
        assert!(checked.status.success(), "{flavour}: {}", text(&checked));
        assert!(
            text(&checked).contains("OK: configuration test is successful"),
            "{}",
            text(&checked)
        );

        std::fs::write(
            config.join("jail.local"),
            "[sshd]\nenabled = true\nfilter = no-such-filter\n",
        )
        .unwrap();
        let refused = fail2ban(&config);
        assert!(
            !refused.status.success(),
            "{flavour}: fail2ban took a bad jail"
        );
    }
}

/// NetworkManager's own keyfile reader takes the bookworm connection bake writes:
/// `nmcli --offline connection modify` parses a keyfile from stdin, applies a change (here
/// one that is already so) and prints the keyfile back as NetworkManager would write it.
#[test]
fn network_manager_reads_the_keyfile() {
    let (_dir, image) = bake("bookworm");
    let keyfile = root_file(
        &image,
        "/etc/NetworkManager/system-connections/eth0.nmconnection",
    );
    let read = |keyfile: &[u8]| {
        use std::io::Write;
        let mut child = Command::new("nmcli")
            .args([
                "--offline",
                "connection",
                "modify",
                "connection.autoconnect",
                "yes",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(keyfile).unwrap();
        child.wait_with_output().unwrap()
    };
    let checked = read(&keyfile);
    assert!(checked.status.success(), "{}", text(&checked));
    let normalised = String::from_utf8_lossy(&checked.stdout).into_owned();
    assert!(
        normalised.contains("address1=172.19.181.1/24"),
        "{normalised}"
    );
    assert!(normalised.contains("method=manual"), "{normalised}");

    let refused = read(
        b"[connection]\nid=eth0\ntype=ethernet\n[ipv4]\nmethod=manual\naddress1=not-an-address\n",
    );
    assert!(!refused.status.success(), "nmcli took a bad keyfile");
}
