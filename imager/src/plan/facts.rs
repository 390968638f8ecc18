//! What a plan needs to know about the base, read once from the image.

use crate::error::{Error, Result};
use crate::fileop::Target;
use crate::first_boot::FirstBoot;
use crate::flavour::{self, Flavour};
use crate::fs::Filesystem;
use crate::image::Image;
use crate::packages::{AptBase, Resolution};
use crate::Epoch;

use super::accounts::Accounts;

#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub flavour: Option<Flavour>,
    pub accounts: Accounts,
    /// Installed units we may enable: (unit name, its path as the system sees it, its text).
    pub units: Vec<(String, String, String)>,
    /// The boot partition's cloud-init `user-data`, if the base has one.
    pub user_data: Option<String>,
    /// Whether the base carries a GlusterFS identity (`/var/lib/glusterd/glusterd.info`),
    /// which every node baked from it would share.
    pub has_glusterd_identity: bool,
    /// What the flavour's first boot would still do to the image.
    pub first_boot: FirstBoot,
    /// The base's dpkg status and apt sources, which `packages:` are resolved against.
    pub apt: AptBase,
    /// This node's packages as resolved (set per node by prepare), whose units count as
    /// installed.
    pub packages: Option<Resolution>,
}

const UNIT_DIRS: [&str; 3] = [
    "/etc/systemd/system",
    "/lib/systemd/system",
    "/usr/lib/systemd/system",
];
/// The units bake configures (docker's socket decides whether `fd://` can be used).
const SERVICES: [&str; 8] = [
    "ssh.service",
    "docker.service",
    "docker.socket",
    "fail2ban.service",
    "cron.service",
    "systemd-networkd.service",
    "keepalived.service",
    "glusterd.service",
];

impl Facts {
    /// Reads the facts from the base (read-only visits), with the files of the units named in
    /// `wanted` (the inventory's units of the base) and of the units their `Also=` names. A
    /// root without `/etc/passwd` or `/etc/group` is not a system bake can add users to: an
    /// error naming the image.
    pub fn read(image: &mut Image, wanted: &[String]) -> Result<Facts> {
        let epoch = Epoch(0);
        let mut first_boot = FirstBoot::default();
        let user_data = if image.has(Target::Boot) {
            image.with_fs(Target::Boot, epoch, false, |fs| {
                first_boot.read_boot(fs)?;
                text(fs, "/user-data")
            })?
        } else {
            None
        };
        let source = image.path().display().to_string();
        image.with_fs(Target::Root, epoch, false, |fs| {
            let required = |fs: &mut dyn Filesystem, path: &str| {
                text(fs, path)?.ok_or_else(|| Error::BadImage {
                    path: source.clone().into(),
                    reason: format!(
                        "the root filesystem has no {path}: not a system bake can configure"
                    ),
                })
            };
            let accounts = Accounts {
                passwd: required(fs, "/etc/passwd")?,
                shadow: text(fs, "/etc/shadow")?.unwrap_or_default(),
                group: required(fs, "/etc/group")?,
                gshadow: text(fs, "/etc/gshadow")?,
            };
            let mut names: Vec<String> = SERVICES.iter().map(|s| s.to_string()).collect();
            names.extend(wanted.iter().cloned());
            let mut units: Vec<(String, String, String)> = Vec::new();
            let mut next = 0;
            while next < names.len() {
                let unit = names[next].clone();
                next += 1;
                if units.iter().any(|(n, _, _)| *n == unit) {
                    continue;
                }
                for dir in UNIT_DIRS {
                    let path = format!("{dir}/{unit}");
                    if let Some(body) = text(fs, &path)? {
                        names.extend(super::units::also(&body));
                        units.push((unit, path, body));
                        break;
                    }
                }
            }
            first_boot.read_root(fs)?;
            let apt = read_apt(fs)?;
            let has_glusterd_identity = fs
                .read_if_exists("/var/lib/glusterd/glusterd.info")?
                .is_some();
            Ok(Facts {
                flavour: Some(flavour::detect_in(fs)?),
                accounts,
                units,
                user_data,
                has_glusterd_identity,
                first_boot,
                apt,
                packages: None,
            })
        })
    }

    pub fn unit(&self, name: &str) -> Option<&(String, String, String)> {
        self.units.iter().find(|(n, _, _)| n == name)
    }

    /// These facts for a node that gets `resolution`'s packages: their units are there to
    /// configure and enable (the base's own copy, if any, stays the one named).
    pub fn with_packages(&self, resolution: Resolution) -> Facts {
        let mut facts = self.clone();
        for deb in &resolution.debs {
            for unit in &deb.units {
                if facts.unit(&unit.name).is_none() {
                    facts
                        .units
                        .push((unit.name.clone(), unit.path.clone(), unit.text.clone()));
                }
            }
        }
        facts.packages = Some(resolution);
        facts
    }
}

/// dpkg's status, the apt sources and the keys apt trusts, as the base has them.
fn read_apt(fs: &mut dyn Filesystem) -> Result<AptBase> {
    let mut apt = AptBase {
        status: text(fs, "/var/lib/dpkg/status")?.unwrap_or_default(),
        ..AptBase::default()
    };
    if let Some(list) = text(fs, "/etc/apt/sources.list")? {
        apt.sources.push(("sources.list".into(), list));
    }
    for (dir, wanted) in [
        ("/etc/apt/sources.list.d", &[".list", ".sources"][..]),
        ("/etc/apt/trusted.gpg.d", &[".gpg", ".asc"][..]),
    ] {
        if fs.stat(dir)?.is_none() {
            continue;
        }
        let mut names = fs.read_dir(dir)?;
        names.sort();
        for name in names
            .into_iter()
            .filter(|n| wanted.iter().any(|w| n.ends_with(w)))
        {
            let path = format!("{dir}/{name}");
            // Keys are often links into /usr/share/keyrings.
            let bytes = match fs.read_if_exists(&path) {
                Ok(Some(b)) => b,
                _ => match fs.read_link(&path) {
                    Ok(target) => fs.read_if_exists(&target)?.unwrap_or_default(),
                    Err(_) => continue,
                },
            };
            if dir.ends_with("sources.list.d") {
                apt.sources
                    .push((name, String::from_utf8_lossy(&bytes).into_owned()));
            } else {
                apt.trusted.push((name, bytes));
            }
        }
    }
    Ok(apt)
}

fn text(fs: &mut dyn Filesystem, path: &str) -> Result<Option<String>> {
    Ok(fs
        .read_if_exists(path)?
        .map(|b| String::from_utf8_lossy(&b).into_owned()))
}
