//! `inspect`: what an image is and how it is configured, read without changing a byte.
//! The report is plain data: the binary prints it for people or as JSON (format 1).

mod network;
mod services;
mod users;

use serde::Serialize;

use crate::disk::PartitionTable;
use crate::error::Result;
use crate::fileop::Target;
use crate::first_boot::FirstBoot;
use crate::flavour::{self, Evidence, Flavour};
use crate::fs::Filesystem;
use crate::image::Image;
use crate::probe::Probe;
use crate::Epoch;

pub use network::Address;
pub use services::Service;
pub use users::{AuthorizedKey, User};

/// Bumped only when a field changes meaning or disappears; new fields may appear.
pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub format: u32,
    pub image: String,
    pub size: u64,
    pub partition_table: PartitionTable,
    pub filesystems: Vec<FilesystemReport>,
    pub flavour: Flavour,
    pub hostname: Option<String>,
    pub addresses: Vec<Address>,
    pub users: Vec<User>,
    /// Fingerprints of `/etc/ssh/ssh_host_*_key.pub`.
    pub ssh_host_keys: Vec<AuthorizedKey>,
    pub services: Vec<Service>,
    /// `/etc/docker/daemon.json` as parsed, when present.
    pub docker_daemon: Option<serde_json::Value>,
    /// What the flavour's first boot will still do to the image.
    pub first_boot: FirstBootReport,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct FirstBootReport {
    /// False when first boot keeps the image's SSH host keys.
    pub regenerates_host_keys: bool,
    /// Each step, as a person would say it.
    pub steps: Vec<String>,
    #[serde(flatten)]
    pub triggers: FirstBoot,
}

#[derive(Debug, Clone, Serialize)]
pub struct FilesystemReport {
    pub partition: u32,
    /// `fat12`, `fat16`, `fat32`, `ext4`, or `swap`.
    #[serde(rename = "type")]
    pub kind: String,
    pub label: String,
    pub uuid: Option<String>,
    pub size: u64,
    pub used: u64,
    pub block_size: Option<u64>,
    pub metadata_csum: Option<bool>,
}

/// Gathers the report. The image is only read: every mount is a read-only visit.
pub fn inspect(image: &mut Image, shown_path: &str) -> Result<Report> {
    let epoch = Epoch(0); // nothing is written, so no instant is stamped
    let mut filesystems = Vec::new();
    for volume in image.volumes() {
        let p = &volume.partition;
        filesystems.push(match &volume.content {
            Probe::Ext4(sb) => FilesystemReport {
                partition: p.number,
                kind: "ext4".into(),
                label: sb.label.clone(),
                uuid: Some(sb.uuid.clone()),
                size: sb.blocks * sb.block_size,
                used: (sb.blocks - sb.free_blocks) * sb.block_size,
                block_size: Some(sb.block_size),
                metadata_csum: Some(sb.metadata_csum),
            },
            Probe::Fat { bits } => {
                let (label, (total, free)) = if Some(p.number) == first_fat(image) {
                    image.with_fs(Target::Boot, epoch, false, |fs| fat_facts(fs))?
                } else {
                    (String::new(), (p.size(), 0))
                };
                FilesystemReport {
                    partition: p.number,
                    kind: format!("fat{bits}"),
                    label,
                    uuid: None,
                    size: total,
                    used: total - free,
                    block_size: None,
                    metadata_csum: None,
                }
            }
            Probe::Unknown => FilesystemReport {
                partition: p.number,
                kind: "swap".into(),
                label: String::new(),
                uuid: None,
                size: p.size(),
                used: 0,
                block_size: None,
                metadata_csum: None,
            },
        });
    }

    let mut first = FirstBoot::default();
    let boot = if image.has(Target::Boot) {
        image.with_fs(Target::Boot, epoch, false, |fs| {
            first.read_boot(fs)?;
            BootFiles::read(fs)
        })?
    } else {
        BootFiles::default()
    };
    let mut report = Report {
        format: FORMAT,
        image: shown_path.to_string(),
        size: image.len(),
        partition_table: image.table().clone(),
        filesystems,
        flavour: flavour::detect(&Evidence::default()),
        hostname: boot.cloud_hostname(),
        addresses: vec![],
        users: vec![],
        ssh_host_keys: vec![],
        services: vec![],
        docker_daemon: None,
        first_boot: FirstBootReport::default(),
    };
    if image.has(Target::Root) {
        image.with_fs(Target::Root, epoch, false, |fs| {
            report.flavour = flavour::detect_in(fs)?;
            if let Some(name) = text(fs, "/etc/hostname")?
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
            {
                report.hostname = Some(name);
            }
            report.addresses = network::read(fs, &boot)?;
            report.users = users::read(fs, &boot)?;
            report.ssh_host_keys = users::host_keys(fs)?;
            report.services = services::read(fs, &boot)?;
            first.read_root(fs)?;
            report.docker_daemon = text(fs, "/etc/docker/daemon.json")?.map(|t| {
                serde_json::from_str(&t)
                    .unwrap_or_else(|e| serde_json::json!({ "unparsable": e.to_string() }))
            });
            Ok(())
        })?;
    }
    report.first_boot = FirstBootReport {
        regenerates_host_keys: first.regenerates_host_keys(),
        steps: first.steps(),
        triggers: first,
    };
    Ok(report)
}

fn first_fat(image: &Image) -> Option<u32> {
    image
        .volumes()
        .into_iter()
        .find(|v| matches!(v.content, Probe::Fat { .. }))
        .map(|v| v.partition.number)
}

fn fat_facts(fs: &mut dyn Filesystem) -> Result<(String, (u64, u64))> {
    let (label, total, free) = fs
        .label_and_space()?
        .ok_or(crate::Error::NoSuchFilesystem("FAT boot"))?;
    Ok((label, (total, free)))
}

/// A text file's content, or `None` when absent.
pub(crate) fn text(fs: &mut dyn Filesystem, path: &str) -> Result<Option<String>> {
    Ok(fs
        .read_if_exists(path)?
        .map(|b| String::from_utf8_lossy(&b).into_owned()))
}

/// What the boot partition says about the system: cloud-init seeds and first-boot flags.
#[derive(Debug, Default, Clone)]
pub(crate) struct BootFiles {
    pub user_data: Option<serde_yaml_ng::Value>,
    pub network_config: Option<serde_yaml_ng::Value>,
    pub ssh_flag: bool,
}

impl BootFiles {
    fn read(fs: &mut dyn Filesystem) -> Result<BootFiles> {
        let yaml = |t: Option<String>| {
            t.and_then(|t| serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&t).ok())
        };
        Ok(BootFiles {
            user_data: yaml(text(fs, "/user-data")?),
            network_config: yaml(text(fs, "/network-config")?),
            ssh_flag: fs.stat("/ssh")?.is_some() || fs.stat("/ssh.txt")?.is_some(),
        })
    }

    fn cloud_hostname(&self) -> Option<String> {
        self.user_data
            .as_ref()?
            .get("hostname")?
            .as_str()
            .map(str::to_string)
    }
}
