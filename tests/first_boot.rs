//! First boot, played on baked cards. `model` applies to an image, in user space, what a
//! flavour's first boot would do to a real card; after it, each node must still be what bake
//! made it: its host key the one in every node's known_hosts, its hostname, address, users
//! and authorized keys; and the root still grows.

mod common;

use std::path::Path;
use std::process::Command;

use common::{lab_text, piimage};

/// A first-boot model: one function per flavour, small on purpose, each step naming the lines
/// of the real program it plays (docs/first-boot.md has the sources). The keys it makes are
/// real ones (`ssh-keygen -A`), so a regenerated key cannot match by chance.
mod model {
    use std::path::Path;

    use imager::fileop::Target;
    use imager::first_boot::{FIRSTBOOT_INIT, KEY_HELPER, KEY_UNIT_LINK, WIZARD_LINK};
    use imager::fs::{Attrs, Filesystem};

    fn file(mode: u32) -> Attrs {
        Attrs {
            mode: Some(mode),
            owner: Some((0, 0)),
        }
    }
    use imager::{Epoch, Image};

    /// Plays `flavour`'s first boot on `image` (written to `out`) and says what it did.
    pub fn play(flavour: &str, image: &Path, out: &Path) -> Vec<String> {
        let mut card = Image::open(image).unwrap();
        let mut steps = Vec::new();
        let epoch = Epoch(1_700_000_000);
        let mut new_disk_id = None;
        match flavour {
            "bullseye" | "bookworm" => {
                let cmdline = boot_text(&mut card, "/cmdline.txt");
                if cmdline.split_whitespace().any(|a| a == FIRSTBOOT_INIT) {
                    // bookworm: initramfs-tools/scripts/local-premount/firstboot resizes when
                    // "firstboot" is on /proc/cmdline; bullseye: firstboot's own do_resize.
                    steps.push("grows the root partition".to_string());
                    // firstboot: `sed -i 's| init=/usr/lib/raspberrypi-sys-mods/firstboot||'`
                    let left = cmdline.replace(&format!(" {FIRSTBOOT_INIT}"), "");
                    // `if ! grep -q splash …; then sed -i "s/ quiet//g"`
                    let left = if left.contains("splash") {
                        left
                    } else {
                        left.replace(" quiet", "")
                    };
                    write_boot(&mut card, "/cmdline.txt", &left, epoch);
                    // main: regenerate_ssh_host_keys, by path.
                    steps.extend(run_key_helper(&mut card, epoch));
                    // main: apply_custom "$FWLOC/custom.toml" when present (then rm -f).
                    if boot_exists(&mut card, "/custom.toml") {
                        steps.push("applies custom.toml".into());
                    }
                    // fix_partuuid: a new disk identifier; fstab and cmdline.txt follow.
                    let (step, new) = new_disk_identifier(&mut card, epoch);
                    steps.push(step);
                    new_disk_id = Some(new);
                }
                // The next boot, under systemd: the enabled units.
                if root_exists(&mut card, KEY_UNIT_LINK) {
                    steps.push("regenerate_ssh_host_keys.service runs".into());
                    steps.extend(run_key_helper(&mut card, epoch));
                }
                if root_exists(&mut card, WIZARD_LINK) {
                    // userconf-service on a Lite image: interactive; whoever answers renames
                    // uid 1000 (`userconf "$PREV_USER" "$NEW_USER"`).
                    steps.push("the user wizard renames uid 1000".into());
                    rename_uid_1000(&mut card, "student", epoch);
                }
            }
            "trixie" => {
                // trixie: `resize` on cmdline.txt; the initramfs grows the root
                // (local-premount/resize_early), then local-bottom/set_partuuid gives the disk
                // a new identifier and takes ` resize` off.
                let cmdline = boot_text(&mut card, "/cmdline.txt");
                if cmdline.split_whitespace().any(|a| a == "resize") {
                    steps.push("grows the root partition".to_string());
                    let (step, new) = new_disk_identifier(&mut card, epoch);
                    steps.push(step);
                    let left = boot_text(&mut card, "/cmdline.txt").replace(" resize", "");
                    write_boot(&mut card, "/cmdline.txt", &left, epoch);
                    new_disk_id = Some(new);
                }
                steps.extend(cloud_init(&mut card, epoch));
            }
            "hypriot" => steps.extend(cloud_init(&mut card, epoch)),
            _ => {}
        }
        card.write_to(out).unwrap();
        if let Some(id) = new_disk_id {
            set_mbr_disk_id(out, &id);
        }
        steps
    }

    /// A new disk identifier (here a fixed one, not random): the old one is replaced in
    /// cmdline.txt and /etc/fstab (`sed -i "s/${OLD_DISKID}/${DISKID}/"`), the MBR's is
    /// written by `play` once the image is out.
    fn new_disk_identifier(card: &mut Image, epoch: Epoch) -> (String, String) {
        let old = card.table().disk_id.clone();
        let new = format!(
            "{:08x}",
            u32::from_str_radix(&old, 16).unwrap() ^ 0x5a5a_5a5a
        );
        let cmdline = boot_text(card, "/cmdline.txt").replace(&old, &new);
        write_boot(card, "/cmdline.txt", &cmdline, epoch);
        card.with_fs(Target::Root, epoch, true, |fs| {
            if let Some(fstab) = fs.read_if_exists("/etc/fstab")? {
                let fstab = String::from_utf8_lossy(&fstab).replace(&old, &new);
                fs.write_file("/etc/fstab", fstab.as_bytes(), file(0o644))?;
            }
            Ok(())
        })
        .unwrap();
        (format!("gives the disk identifier {new} (was {old})"), new)
    }

    /// What firstboot and the unit run: whatever is at the helper's path. The model knows two
    /// helpers by their lines, the package's (raspberrypi-sys-mods:
    /// usr/lib/raspberrypi-sys-mods/regenerate_ssh_host_keys) and piimage's
    /// (overlays/ssh/regenerate_ssh_host_keys), and refuses any other.
    fn run_key_helper(card: &mut Image, epoch: Epoch) -> Vec<String> {
        let helper = root_text(card, KEY_HELPER);
        let guard = "if [ ! -s /etc/ssh/ssh_host_ed25519_key ]; then";
        if helper.contains(guard) {
            if root_nonempty(card, "/etc/ssh/ssh_host_ed25519_key") {
                return vec!["the key helper keeps the host keys".into()];
            }
            let distrib = helper
                .lines()
                .find_map(|l| l.trim().strip_prefix("exec "))
                .unwrap()
                .to_string();
            let package = root_text(card, &distrib);
            return regenerate_if_package(card, &package, epoch);
        }
        regenerate_if_package(card, &helper, epoch)
    }

    fn regenerate_if_package(card: &mut Image, helper: &str, epoch: Epoch) -> Vec<String> {
        assert!(
            helper.contains("rm -f /etc/ssh/ssh_host_*_key*") && helper.contains("ssh-keygen -A"),
            "the model does not know this key helper:\n{helper}"
        );
        // `rm -f /etc/ssh/ssh_host_*_key*`, then `ssh-keygen -A` makes every default type.
        delete_host_keys(card, epoch);
        generate_host_keys(card, &["rsa", "ecdsa", "ed25519"], epoch);
        vec!["the key helper deletes the host keys and makes new ones".into()]
    }

    /// cloud-init's first boot, for the modules bake relies on (cloud-init 22.4: cc_ssh,
    /// cc_set_hostname, cc_users_groups via ug_util.normalize_users_groups, cc_growpart).
    fn cloud_init(card: &mut Image, epoch: Epoch) -> Vec<String> {
        let mut steps = vec!["grows the root partition (cc_growpart, mode auto)".to_string()];
        let text = boot_text(card, "/user-data");
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
        // cc_ssh: ssh_deletekeys defaults to true; ssh_genkeytypes to all; a type whose key
        // file exists is not made again.
        if doc["ssh_deletekeys"].as_bool().unwrap_or(true) {
            delete_host_keys(card, epoch);
            steps.push("cc_ssh deletes the host keys".into());
        }
        let types: Vec<String> = match doc["ssh_genkeytypes"].as_sequence() {
            Some(list) => list
                .iter()
                .filter_map(|t| t.as_str().map(String::from))
                .collect(),
            None => vec!["rsa".into(), "ecdsa".into(), "ed25519".into()],
        };
        let made = generate_host_keys(
            card,
            &types.iter().map(String::as_str).collect::<Vec<_>>(),
            epoch,
        );
        if !made.is_empty() {
            steps.push(format!("cc_ssh makes host keys: {}", made.join(", ")));
        }
        // cc_set_hostname: `hostname:` into /etc/hostname.
        if let Some(name) = doc["hostname"].as_str() {
            let name = format!("{name}\n");
            card.with_fs(Target::Root, epoch, true, |fs| {
                fs.write_file("/etc/hostname", name.as_bytes(), file(0o644))
            })
            .unwrap();
        }
        // cc_users_groups: no `users:` means `[default]`, the distribution's user; a mapping
        // or list makes the users named in it.
        match &doc["users"] {
            serde_yaml_ng::Value::Null => {
                steps.push("cc_users_groups makes the default user".into());
                add_user(card, "default-user", epoch);
            }
            serde_yaml_ng::Value::Mapping(m) if m.is_empty() => {}
            serde_yaml_ng::Value::Sequence(s) if s.is_empty() => {}
            other => panic!("the model does not play users: {other:?}"),
        }
        steps
    }

    fn delete_host_keys(card: &mut Image, epoch: Epoch) {
        card.with_fs(Target::Root, epoch, true, |fs| {
            for name in fs.read_dir("/etc/ssh")? {
                if name.starts_with("ssh_host_") && name.contains("_key") {
                    fs.remove(&format!("/etc/ssh/{name}"))?;
                }
            }
            Ok(())
        })
        .unwrap();
    }

    /// `ssh-keygen -A` in a scratch root: real keys of the missing types, copied in.
    fn generate_host_keys(card: &mut Image, types: &[&str], epoch: Epoch) -> Vec<String> {
        let scratch = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(scratch.path().join("etc/ssh")).unwrap();
        let made = std::process::Command::new("ssh-keygen")
            .arg("-A")
            .arg("-f")
            .arg(scratch.path())
            .output()
            .unwrap();
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
        let mut out = Vec::new();
        card.with_fs(Target::Root, epoch, true, |fs| {
            for t in types {
                let private = format!("/etc/ssh/ssh_host_{t}_key");
                if fs.stat(&private)?.is_some() {
                    continue;
                }
                let dir = scratch.path().join("etc/ssh");
                let key = std::fs::read(dir.join(format!("ssh_host_{t}_key"))).unwrap();
                let public = std::fs::read(dir.join(format!("ssh_host_{t}_key.pub"))).unwrap();
                fs.write_file(&private, &key, file(0o600))?;
                fs.write_file(&format!("{private}.pub"), &public, file(0o644))?;
                out.push(t.to_string());
            }
            Ok(())
        })
        .unwrap();
        out
    }

    fn rename_uid_1000(card: &mut Image, new: &str, epoch: Epoch) {
        card.with_fs(Target::Root, epoch, true, |fs| {
            let passwd = String::from_utf8_lossy(&fs.read_file("/etc/passwd")?).into_owned();
            let renamed: Vec<String> = passwd
                .lines()
                .map(|l| {
                    let f: Vec<&str> = l.split(':').collect();
                    if f.get(2) == Some(&"1000") {
                        format!("{new}:{}", f[1..].join(":"))
                    } else {
                        l.to_string()
                    }
                })
                .collect();
            fs.write_file(
                "/etc/passwd",
                (renamed.join("\n") + "\n").as_bytes(),
                file(0o644),
            )
        })
        .unwrap();
    }

    fn add_user(card: &mut Image, name: &str, epoch: Epoch) {
        card.with_fs(Target::Root, epoch, true, |fs| {
            fs.append_file(
                "/etc/passwd",
                format!("{name}:x:1999:1999::/home/{name}:/bin/sh\n").as_bytes(),
            )
        })
        .unwrap();
    }

    fn set_mbr_disk_id(out: &Path, id: &str) {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new().write(true).open(out).unwrap();
        f.seek(SeekFrom::Start(440)).unwrap();
        f.write_all(&u32::from_str_radix(id, 16).unwrap().to_le_bytes())
            .unwrap();
    }

    fn boot_text(card: &mut Image, path: &str) -> String {
        card.with_fs(Target::Boot, Epoch(0), false, |fs| fs.read_file(path))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap()
    }

    fn boot_exists(card: &mut Image, path: &str) -> bool {
        card.with_fs(Target::Boot, Epoch(0), false, |fs| {
            Ok(fs.stat(path)?.is_some())
        })
        .unwrap()
    }

    fn write_boot(card: &mut Image, path: &str, text: &str, epoch: Epoch) {
        card.with_fs(Target::Boot, epoch, true, |fs: &mut dyn Filesystem| {
            fs.write_file(
                path,
                text.as_bytes(),
                Attrs {
                    mode: None,
                    owner: None,
                },
            )
        })
        .unwrap();
    }

    fn root_text(card: &mut Image, path: &str) -> String {
        card.with_fs(Target::Root, Epoch(0), false, |fs| fs.read_file(path))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn root_exists(card: &mut Image, path: &str) -> bool {
        card.with_fs(Target::Root, Epoch(0), false, |fs| {
            Ok(fs.stat(path)?.is_some())
        })
        .unwrap()
    }

    fn root_nonempty(card: &mut Image, path: &str) -> bool {
        card.with_fs(Target::Root, Epoch(0), false, |fs| {
            Ok(fs.read_if_exists(path)?.is_some_and(|b| !b.is_empty()))
        })
        .unwrap()
    }
}

fn inspect(dir: &Path, image: &Path) -> serde_json::Value {
    let run = piimage(
        &dir.join("cache"),
        &["inspect", "--json", image.to_str().unwrap()],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap()
}

/// `ssh-keygen -l` of a public key: "256 SHA256:… comment (ED25519)" → the fingerprint.
fn fingerprint(public_key_line: &str) -> String {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), format!("{public_key_line}\n")).unwrap();
    let out = Command::new("ssh-keygen")
        .arg("-l")
        .arg("-f")
        .arg(file.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string()
}

#[test]
fn every_flavour_keeps_what_bake_wrote_through_first_boot() {
    for flavour in ["bullseye", "bookworm", "trixie", "hypriot"] {
        let (dir, inventory) = common::stage_lab(&lab_text(), flavour);
        let out = common::bake_staged(dir.path(), &inventory, "out", &[]).1;
        let known_hosts = std::fs::read_to_string(out.join("known_hosts")).unwrap();
        let image = out.join("p1.img");
        let played = dir.path().join("p1-after-first-boot.img");
        let steps = model::play(flavour, &image, &played);
        let context = format!("{flavour}: first boot {steps:?}");
        assert!(
            steps
                .iter()
                .any(|s| s.starts_with("grows the root partition")),
            "{context}: the root must still grow"
        );

        let after = inspect(dir.path(), &played);
        assert_eq!(after["hostname"], "p1", "{context}");
        let addresses = after["addresses"].to_string();
        assert!(addresses.contains("172.19.181.1"), "{context}: {addresses}");
        let pi = after["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["name"] == "pi")
            .unwrap_or_else(|| panic!("{context}: no user pi in {}", after["users"]));
        assert_eq!(
            pi["authorized_keys"].as_array().unwrap().len(),
            1,
            "{context}: {pi}"
        );
        let names: Vec<&str> = after["users"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|u| u["name"].as_str())
            .collect();
        for stranger in ["student", "default-user"] {
            assert!(
                !names.contains(&stranger),
                "{context}: first boot made {stranger}"
            );
        }

        // The host key sshd will serve is the one every node trusts.
        let line = known_hosts.lines().find(|l| l.starts_with("p1,")).unwrap();
        let trusted = fingerprint(line.split_once(' ').unwrap().1);
        let keys = after["ssh_host_keys"].as_array().unwrap();
        assert_eq!(keys.len(), 1, "{context}: host keys {keys:?}");
        assert_eq!(keys[0]["fingerprint"], trusted, "{context}");
        // And by ssh-keygen itself, from the key file the card holds after first boot.
        let root = fixtures::Ext4Judge::new(&played, 2);
        let on_card = String::from_utf8(root.cat("/etc/ssh/ssh_host_ed25519_key.pub")).unwrap();
        assert_eq!(fingerprint(on_card.trim()), trusted, "{context}");
        assert_eq!(
            after["first_boot"]["regenerates_host_keys"], false,
            "{context}"
        );
    }
}

/// What first boot would still do is in inspect: the plain base throws its keys away, the
/// baked card keeps them, and both still grow the root.
#[test]
fn inspect_says_whether_first_boot_keeps_the_host_keys() {
    let (dir, inventory) = common::stage_lab(&lab_text(), "bookworm");
    let base = inspect(dir.path(), &dir.path().join("base.img"));
    assert_eq!(
        base["first_boot"]["regenerates_host_keys"], true,
        "{}",
        base["first_boot"]
    );
    assert_eq!(base["first_boot"]["firstboot_init"], true);
    assert_eq!(base["first_boot"]["wizard_enabled"], true);

    let out = common::bake_staged(dir.path(), &inventory, "out", &[]).1;
    let baked = inspect(dir.path(), &out.join("p1.img"));
    let first = &baked["first_boot"];
    assert_eq!(first["regenerates_host_keys"], false, "{first}");
    assert_eq!(
        first["firstboot_init"], true,
        "the root resize stays: {first}"
    );
    assert_eq!(first["key_helper_diverted"], true, "{first}");
    assert_eq!(first["wizard_enabled"], false, "{first}");
    let human = piimage(
        &dir.path().join("cache"),
        &["inspect", out.join("p1.img").to_str().unwrap()],
    );
    assert!(
        human.stdout.contains("keeps the SSH host keys"),
        "{}",
        human.stdout
    );
}

/// dpkg itself reads the diversion bake wrote: `dpkg-divert --list` in the baked image's
/// dpkg directory names the helper, kept aside for the package as `.distrib`.
#[test]
fn dpkg_reads_the_baked_diversion() {
    let (dir, inventory) = common::stage_lab(&lab_text(), "bullseye");
    let out = common::bake_staged(dir.path(), &inventory, "out", &[]).1;
    let root = fixtures::Ext4Judge::new(&out.join("p1.img"), 2);
    let admin = dir.path().join("dpkg");
    std::fs::create_dir_all(admin.join("updates")).unwrap();
    std::fs::write(
        admin.join("diversions"),
        root.cat("/var/lib/dpkg/diversions"),
    )
    .unwrap();
    std::fs::write(admin.join("status"), "").unwrap();
    let listed = Command::new("dpkg-divert")
        .arg("--admindir")
        .arg(&admin)
        .arg("--list")
        .output()
        .unwrap();
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert!(
        listed.contains("local diversion of /usr/lib/raspberrypi-sys-mods/regenerate_ssh_host_keys to /usr/lib/raspberrypi-sys-mods/regenerate_ssh_host_keys.distrib"),
        "{listed}"
    );
    // dash's own diversion of /bin/sh is still there.
    assert!(
        listed.contains("diversion of /bin/sh to /bin/sh.distrib by dash"),
        "{listed}"
    );
    assert!(root.exists("/usr/lib/raspberrypi-sys-mods/regenerate_ssh_host_keys.distrib"));
    // The shell firstboot hands the helper to reads it (`sh -n`: parsed, not run).
    let helper = dir.path().join("regenerate_ssh_host_keys");
    std::fs::write(
        &helper,
        root.cat("/usr/lib/raspberrypi-sys-mods/regenerate_ssh_host_keys"),
    )
    .unwrap();
    let parsed = Command::new("sh").arg("-n").arg(&helper).output().unwrap();
    assert!(
        parsed.status.success(),
        "{}",
        String::from_utf8_lossy(&parsed.stderr)
    );
}
