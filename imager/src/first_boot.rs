//! What a flavour's first boot will still do to an image, read from the image: Raspberry Pi
//! OS's `firstboot` (raspberrypi-sys-mods, run as init from `cmdline.txt`) and the units it
//! ships, userconf-pi's user wizard, and cloud-init's ssh module. Plan reads this to switch
//! off only the steps that would undo bake; inspect reports it. The sources each rule
//! follows are in docs/first-boot.md.

use serde::Serialize;

use crate::error::Result;
use crate::fs::Filesystem;
use crate::inspect::text;

/// On `cmdline.txt` of Raspberry Pi OS images up to bookworm until first boot removes it.
pub const FIRSTBOOT_INIT: &str = "init=/usr/lib/raspberrypi-sys-mods/firstboot";
/// The script firstboot runs for the host keys (by path, whatever its unit's link says).
pub const KEY_HELPER: &str = "/usr/lib/raspberrypi-sys-mods/regenerate_ssh_host_keys";
/// Where a dpkg diversion keeps the package's own copy of the helper.
pub const KEY_HELPER_DISTRIB: &str =
    "/usr/lib/raspberrypi-sys-mods/regenerate_ssh_host_keys.distrib";
/// The line piimage's replacement helper carries, so inspect can tell it from others.
pub const KEEP_KEYS_MARK: &str = "# piimage: keeps the baked host keys";
pub const KEY_UNIT_LINK: &str =
    "/etc/systemd/system/multi-user.target.wants/regenerate_ssh_host_keys.service";
pub const WIZARD_LINK: &str = "/etc/systemd/system/multi-user.target.wants/userconfig.service";
pub const DIVERSIONS: &str = "/var/lib/dpkg/diversions";

/// The first-boot triggers an image carries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FirstBoot {
    /// `cmdline.txt` runs raspberrypi-sys-mods' firstboot as init (and, on bookworm, the
    /// initramfs grows the root because `firstboot` is on the command line).
    pub firstboot_init: bool,
    /// `resize` on `cmdline.txt` (trixie): the initramfs grows the root and gives the disk a
    /// new identifier, then takes the flag off.
    pub resize_flag: bool,
    /// The key helper as it is in the image, when there is one.
    #[serde(skip)]
    pub key_helper: Option<String>,
    /// `/var/lib/dpkg/diversions` moves the package's helper aside.
    pub key_helper_diverted: bool,
    /// regenerate_ssh_host_keys.service is enabled.
    pub key_unit_enabled: bool,
    /// userconf-pi's userconfig.service (the user wizard) is enabled.
    pub wizard_enabled: bool,
    /// cloud-init seeds (`user-data`) are on the boot partition.
    pub cloud_init_seeds: bool,
    /// ... and their `ssh_deletekeys` is not false.
    pub cloud_init_deletes_keys: bool,
    /// The packages bake carried for piimage-packages.service to install (`.deb` file
    /// names), while it has not yet.
    pub installs_packages: Vec<String>,
}

impl FirstBoot {
    /// Reads the boot partition's triggers, in a visit the caller makes anyway.
    pub fn read_boot(&mut self, fs: &mut dyn Filesystem) -> Result<()> {
        let cmdline = text(fs, "/cmdline.txt")?.unwrap_or_default();
        self.firstboot_init = cmdline.split_whitespace().any(|a| a == FIRSTBOOT_INIT);
        self.resize_flag = cmdline.split_whitespace().any(|a| a == "resize");
        let user_data = text(fs, "/user-data")?;
        self.cloud_init_seeds = user_data.is_some();
        self.cloud_init_deletes_keys = user_data.as_deref().is_some_and(deletes_keys);
        Ok(())
    }

    /// Reads the root filesystem's triggers, in a visit the caller makes anyway.
    pub fn read_root(&mut self, fs: &mut dyn Filesystem) -> Result<()> {
        self.key_helper = text(fs, KEY_HELPER)?;
        self.key_helper_diverted = text(fs, DIVERSIONS)?.is_some_and(|d| diverts(&d, KEY_HELPER));
        self.key_unit_enabled = fs.stat(KEY_UNIT_LINK)?.is_some();
        self.wizard_enabled = fs.stat(WIZARD_LINK)?.is_some();
        let sums = format!("{}/SHA256SUMS", crate::plan::PACKAGES_DIR);
        if fs.stat(crate::plan::PACKAGES_STAMP)?.is_none() {
            self.installs_packages = text(fs, &sums)?
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
                .collect();
        }
        Ok(())
    }

    /// Whether the helper firstboot runs is piimage's, which keeps existing keys.
    pub fn helper_keeps_keys(&self) -> bool {
        self.key_helper_diverted
            && self
                .key_helper
                .as_deref()
                .is_some_and(|h| h.contains(KEEP_KEYS_MARK))
    }

    /// Whether first boot throws the image's host keys away and makes new ones.
    pub fn regenerates_host_keys(&self) -> bool {
        let by_firstboot =
            self.firstboot_init && self.key_helper.is_some() && !self.helper_keeps_keys();
        let by_unit = self.key_unit_enabled && !self.helper_keeps_keys();
        by_firstboot || by_unit || self.cloud_init_deletes_keys
    }

    /// What first boot will still do, as a person would say it.
    pub fn steps(&self) -> Vec<String> {
        let mut steps = Vec::new();
        if self.firstboot_init {
            steps.push(format!(
                "runs {} once: grows the root partition, gives the disk a new identifier \
                 (fstab and cmdline.txt follow), applies custom.toml if there is one",
                FIRSTBOOT_INIT.trim_start_matches("init=")
            ));
        }
        if self.resize_flag {
            steps.push(
                "grows the root partition and gives the disk a new identifier, in the initramfs \
                 (`resize` on cmdline.txt)"
                    .into(),
            );
        }
        if self.regenerates_host_keys() {
            steps.push("deletes the SSH host keys and makes new ones".into());
        } else if self.key_helper.is_some() || self.cloud_init_seeds {
            steps.push("keeps the SSH host keys".into());
        }
        if !self.installs_packages.is_empty() {
            let names: Vec<String> = self
                .installs_packages
                .iter()
                .map(|f| {
                    let mut parts = f.trim_end_matches(".deb").splitn(3, '_');
                    let name = parts.next().unwrap_or_default();
                    let version = parts.next().unwrap_or_default().replace("%3a", ":");
                    format!("{name} {version}")
                })
                .collect();
            steps.push(format!(
                "installs at first boot (piimage-packages.service, offline): {}",
                names.join(", ")
            ));
        }
        if self.wizard_enabled {
            steps.push(
                "asks for a user on tty8 (userconf-pi's wizard), which renames uid 1000".into(),
            );
        }
        steps
    }
}

/// cloud-init's ssh module deletes host keys unless `ssh_deletekeys: false` (cc_ssh).
fn deletes_keys(user_data: &str) -> bool {
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(user_data).unwrap_or_default();
    doc.get("ssh_deletekeys")
        .and_then(serde_yaml_ng::Value::as_bool)
        .unwrap_or(true)
}

/// dpkg's diversions file: three lines per diversion (the file, where the package's copy
/// goes, the package or `:` for a local one).
pub fn diverts(diversions: &str, path: &str) -> bool {
    diversions
        .lines()
        .collect::<Vec<_>>()
        .chunks(3)
        .any(|d| d.first() == Some(&path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_diversion_is_three_lines_and_only_its_first_names_the_file() {
        let d = "/bin/sh\n/bin/sh.distrib\ndash\n/usr/lib/raspberrypi-sys-mods/regenerate_ssh_host_keys\n/usr/lib/raspberrypi-sys-mods/regenerate_ssh_host_keys.distrib\n:\n";
        assert!(diverts(d, KEY_HELPER));
        assert!(diverts(d, "/bin/sh"));
        assert!(!diverts(d, "/bin/sh.distrib"));
        assert!(!diverts("", KEY_HELPER));
    }

    #[test]
    fn cloud_init_deletes_keys_unless_told_not_to() {
        assert!(deletes_keys("#cloud-config\nhostname: a\n"));
        assert!(!deletes_keys("#cloud-config\nssh_deletekeys: false\n"));
    }

    #[test]
    fn the_package_helper_regenerates_and_piimage_s_keeps() {
        let stock = FirstBoot {
            firstboot_init: true,
            key_helper: Some("rm -f /etc/ssh/ssh_host_*_key*\nssh-keygen -A\n".into()),
            ..FirstBoot::default()
        };
        assert!(stock.regenerates_host_keys());
        let kept = FirstBoot {
            key_helper: Some(format!("#!/bin/sh\n{KEEP_KEYS_MARK}\n")),
            key_helper_diverted: true,
            ..stock.clone()
        };
        assert!(!kept.regenerates_host_keys());
        // The mark without the diversion is not enough: dpkg would put the package's back.
        let undiverted = FirstBoot {
            key_helper_diverted: false,
            ..kept
        };
        assert!(undiverted.regenerates_host_keys());
    }
}
