//! What a flash target is and whether writing to it is safe, read from sysfs and procfs (or
//! from fake trees in tests): model, size, transport, serial; mounted partitions, swap, the
//! running system, holders; removable or not, read-only or not.

use std::collections::BTreeSet;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use serde::Serialize;

/// Where the kernel's views live: `/sys`, `/proc` on a real machine.
#[derive(Debug, Clone)]
pub struct System {
    pub sys: PathBuf,
    pub proc: PathBuf,
}

impl Default for System {
    fn default() -> System {
        System {
            sys: PathBuf::from("/sys"),
            proc: PathBuf::from("/proc"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Usb,
    Mmc,
    Loop,
    Sata,
    Nvme,
    Virtio,
    Scsi,
    /// A regular file (an image copy, or a test's card).
    File,
    Unknown,
}

impl Transport {
    /// Where an SD card sits: a USB reader, the MMC slot, or a loop device over a file.
    pub fn is_card_like(self) -> bool {
        matches!(
            self,
            Transport::Usb | Transport::Mmc | Transport::Loop | Transport::File
        )
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub path: PathBuf,
    /// Kernel name (`sdb`, `mmcblk0`, `loop3`); the file name for a regular file.
    pub name: String,
    pub model: String,
    pub serial: String,
    /// Bytes; `None` for a regular file (it grows).
    pub size: Option<u64>,
    pub transport: Transport,
    pub removable: bool,
    pub read_only: bool,
    /// What uses it now: "sdb1 mounted on /media/x", "sdb2 is swap", "held by dm-0".
    pub in_use: Vec<String>,
    pub is_block: bool,
}

fn read_trim(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// Looks at `path`: a block device (through sysfs) or a regular file (existing or not).
pub fn inspect(system: &System, path: &Path) -> std::io::Result<Target> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(file_target(path, false));
        }
        Err(e) => return Err(e),
    };
    if meta.file_type().is_block_device() {
        let rdev = meta.rdev();
        let (major, minor) = (libc::major(rdev), libc::minor(rdev));
        let link = system.sys.join(format!("dev/block/{major}:{minor}"));
        let dir = std::fs::canonicalize(&link)?;
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(inspect_block(system, path, &name, &dir))
    } else if meta.is_file() {
        Ok(file_target(path, meta.permissions().readonly()))
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "neither a block device nor a regular file",
        ))
    }
}

fn file_target(path: &Path, read_only: bool) -> Target {
    Target {
        path: path.to_path_buf(),
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        model: "regular file".into(),
        serial: String::new(),
        size: None,
        transport: Transport::File,
        removable: true,
        read_only,
        in_use: Vec::new(),
        is_block: false,
    }
}

/// A block device `name` whose sysfs directory (resolved, under `devices/`) is `dir`.
pub fn inspect_block(system: &System, path: &Path, name: &str, dir: &Path) -> Target {
    let attr = |rel: &str| read_trim(&dir.join(rel));
    let dir_text = dir.to_string_lossy();
    let transport = if name.starts_with("loop") {
        Transport::Loop
    } else if name.starts_with("mmcblk") {
        Transport::Mmc
    } else if dir_text.contains("/usb") {
        Transport::Usb
    } else if name.starts_with("nvme") {
        Transport::Nvme
    } else if dir_text.contains("/ata") {
        Transport::Sata
    } else if dir_text.contains("/virtio") {
        Transport::Virtio
    } else if name.starts_with("sd") {
        Transport::Scsi
    } else {
        Transport::Unknown
    };
    let model = [
        attr("device/vendor"),
        attr("device/model"),
        attr("device/name"),
    ]
    .into_iter()
    .flatten()
    .filter(|s| !s.is_empty())
    .collect::<Vec<_>>()
    .join(" ");
    let model = match (model.is_empty(), transport) {
        (false, _) => model,
        (true, Transport::Loop) => format!(
            "loop over {}",
            attr("loop/backing_file").unwrap_or_else(|| "?".into())
        ),
        (true, _) => "unknown model".into(),
    };
    let serial = attr("device/serial")
        .or_else(|| usb_serial(dir))
        .unwrap_or_default();
    let size = attr("size")
        .and_then(|s| s.parse::<u64>().ok())
        .map(|sectors| sectors * 512);

    // The device and its partitions, with their device numbers, for the in-use checks.
    let mut members = vec![(name.to_string(), attr("dev").unwrap_or_default())];
    if let Ok(entries) = std::fs::read_dir(dir) {
        let mut parts: Vec<(String, String)> = entries
            .flatten()
            .filter(|e| e.path().join("partition").exists())
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    read_trim(&e.path().join("dev")).unwrap_or_default(),
                )
            })
            .collect();
        parts.sort();
        members.extend(parts);
    }
    let mut in_use = Vec::new();
    let mountinfo = std::fs::read_to_string(system.proc.join("self/mountinfo")).unwrap_or_default();
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let (Some(devno), Some(mountpoint)) = (fields.get(2), fields.get(4)) else {
            continue;
        };
        let source = line
            .split(" - ")
            .nth(1)
            .and_then(|rest| rest.split(' ').nth(1))
            .unwrap_or("");
        for (member, dev) in &members {
            if (!dev.is_empty() && devno == dev) || source == format!("/dev/{member}") {
                let what = if *mountpoint == "/" {
                    format!("{member} holds the running system (mounted on /)")
                } else {
                    format!("{member} is mounted on {mountpoint}")
                };
                if !in_use.contains(&what) {
                    in_use.push(what);
                }
            }
        }
    }
    let swaps = std::fs::read_to_string(system.proc.join("swaps")).unwrap_or_default();
    for line in swaps.lines().skip(1) {
        let Some(file) = line.split_whitespace().next() else {
            continue;
        };
        for (member, _) in &members {
            if file == format!("/dev/{member}") {
                in_use.push(format!("{member} is in use as swap"));
            }
        }
    }
    for (member, _) in &members {
        let holders = if member == name {
            dir.join("holders")
        } else {
            dir.join(member).join("holders")
        };
        if let Ok(entries) = std::fs::read_dir(holders) {
            for holder in entries.flatten() {
                in_use.push(format!(
                    "{member} is held by {}",
                    holder.file_name().to_string_lossy()
                ));
            }
        }
    }
    Target {
        path: path.to_path_buf(),
        name: name.to_string(),
        model,
        serial,
        size,
        transport,
        removable: attr("removable").as_deref() == Some("1"),
        read_only: attr("ro").as_deref() == Some("1"),
        in_use,
        is_block: true,
    }
}

/// A USB disk's serial is on the USB device, a few levels above the block device.
fn usb_serial(dir: &Path) -> Option<String> {
    dir.ancestors().take(10).find_map(|d| {
        (d.join("idVendor").exists())
            .then(|| read_trim(&d.join("serial")))
            .flatten()
    })
}

/// Why writing `image_len` bytes to `target` must not happen; empty when it may.
/// `force` allows only a device that is not card-like (an internal disk); nothing overrides
/// the others.
pub fn refusals(target: &Target, image_len: u64, force: bool) -> Vec<String> {
    let mut why = target.in_use.clone();
    if target.read_only {
        why.push("it is read-only (write-protect switch?)".into());
    }
    if let Some(size) = target.size {
        if size == 0 {
            why.push("it has no medium (empty reader?)".into());
        } else if size < image_len {
            why.push(format!(
                "the image ({image_len} bytes) does not fit ({size} bytes)"
            ));
        }
    }
    if target.is_block && !force && !(target.transport.is_card_like() || target.removable) {
        why.push(format!(
            "it is not removable, USB, MMC or a loop device ({:?}): pass --force if it really is the card",
            target.transport
        ));
    }
    why
}

/// Whole disks (`/sys/block`) that hold a medium now (size above zero): a card reader without
/// a card, or a detached loop device, has size 0.
pub fn with_medium(system: &System) -> BTreeSet<String> {
    let Ok(entries) = std::fs::read_dir(system.sys.join("block")) else {
        return BTreeSet::new();
    };
    entries
        .flatten()
        .filter(|e| {
            read_trim(&e.path().join("size"))
                .and_then(|s| s.parse::<u64>().ok())
                .is_some_and(|n| n > 0)
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake machine: sysfs devices and procfs files, as the kernel lays them out.
    struct Fake {
        dir: tempfile::TempDir,
    }

    impl Fake {
        fn new() -> Fake {
            let fake = Fake {
                dir: tempfile::tempdir().unwrap(),
            };
            fake.write("proc/self/mountinfo", "");
            fake.write("proc/swaps", "Filename\tType\tSize\tUsed\tPriority\n");
            fake
        }

        fn write(&self, rel: &str, text: &str) {
            let path = self.dir.path().join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }

        /// A disk at `devpath` (under sys/devices) with partitions; returns its sysfs dir.
        fn disk(
            &self,
            devpath: &str,
            name: &str,
            dev: &str,
            sectors: u64,
            parts: &[(&str, &str)],
        ) -> PathBuf {
            let rel = format!("sys/devices/{devpath}/block/{name}");
            self.write(&format!("{rel}/dev"), &format!("{dev}\n"));
            self.write(&format!("{rel}/size"), &format!("{sectors}\n"));
            self.write(&format!("{rel}/removable"), "0\n");
            self.write(&format!("{rel}/ro"), "0\n");
            std::fs::create_dir_all(self.dir.path().join(&rel).join("holders")).unwrap();
            for (part, pdev) in parts {
                self.write(&format!("{rel}/{part}/partition"), "1\n");
                self.write(&format!("{rel}/{part}/dev"), &format!("{pdev}\n"));
            }
            std::fs::create_dir_all(self.dir.path().join("sys/block")).unwrap();
            let _ = std::os::unix::fs::symlink(
                self.dir.path().join(&rel),
                self.dir.path().join("sys/block").join(name),
            );
            self.dir.path().join(rel)
        }

        fn system(&self) -> System {
            System {
                sys: self.dir.path().join("sys"),
                proc: self.dir.path().join("proc"),
            }
        }

        fn inspect(&self, name: &str, dir: &Path) -> Target {
            inspect_block(
                &self.system(),
                &PathBuf::from(format!("/dev/{name}")),
                name,
                dir,
            )
        }
    }

    const USB: &str = "pci0000:00/0000:00:14.0/usb1/1-2/1-2:1.0/host6/target6:0:0/6:0:0:0";
    const SATA: &str = "pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0";
    const GIB8: u64 = 8 * 1024 * 1024 * 2;

    fn usb_card(fake: &Fake) -> PathBuf {
        let dir = fake.disk(
            USB,
            "sdb",
            "8:16",
            GIB8,
            &[("sdb1", "8:17"), ("sdb2", "8:18")],
        );
        fake.write(&format!("sys/devices/{USB}/block/sdb/removable"), "1\n");
        fake.write(&format!("sys/devices/{USB}/device/vendor"), "Generic \n");
        fake.write(
            &format!("sys/devices/{USB}/block/sdb/device/vendor"),
            "Generic\n",
        );
        fake.write(
            &format!("sys/devices/{USB}/block/sdb/device/model"),
            "STORAGE DEVICE\n",
        );
        fake.write(
            "sys/devices/pci0000:00/0000:00:14.0/usb1/1-2/idVendor",
            "0bda\n",
        );
        fake.write(
            "sys/devices/pci0000:00/0000:00:14.0/usb1/1-2/serial",
            "000000001206\n",
        );
        dir
    }

    #[test]
    fn a_clean_usb_card_is_described_and_allowed() {
        let fake = Fake::new();
        let dir = usb_card(&fake);
        let t = fake.inspect("sdb", &dir);
        assert_eq!(t.transport, Transport::Usb);
        assert_eq!(t.model, "Generic STORAGE DEVICE");
        assert_eq!(t.serial, "000000001206");
        assert_eq!(t.size, Some(8 << 30));
        assert!(t.removable && !t.read_only && t.in_use.is_empty());
        assert!(refusals(&t, 3 << 30, false).is_empty());
    }

    #[test]
    fn a_mounted_partition_is_refused_even_with_force() {
        let fake = Fake::new();
        let dir = usb_card(&fake);
        fake.write(
            "proc/self/mountinfo",
            "22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw\n\
             98 22 8:17 / /media/pi/bootfs rw,nosuid shared:50 - vfat /dev/sdb1 rw\n",
        );
        let why = refusals(&fake.inspect("sdb", &dir), 1 << 30, true);
        assert_eq!(why, ["sdb1 is mounted on /media/pi/bootfs"]);
    }

    #[test]
    fn the_running_system_swap_and_internal_disks_are_refused() {
        let fake = Fake::new();
        let dir = fake.disk(
            SATA,
            "sda",
            "8:0",
            GIB8 * 32,
            &[("sda1", "8:1"), ("sda2", "8:2")],
        );
        fake.write(
            "proc/self/mountinfo",
            "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n",
        );
        fake.write(
            "proc/swaps",
            "Filename\tType\tSize\tUsed\tPriority\n/dev/sda2 partition\t999420\t0\t-2\n",
        );
        let t = fake.inspect("sda", &dir);
        assert_eq!(t.transport, Transport::Sata);
        let why = refusals(&t, 1 << 30, false);
        assert_eq!(why.len(), 3, "{why:?}");
        assert!(why[0].contains("sda1 holds the running system"), "{why:?}");
        assert!(why[1].contains("sda2 is in use as swap"), "{why:?}");
        assert!(why[2].contains("--force"), "{why:?}");
        // --force lifts only the "not removable" rule.
        assert_eq!(refusals(&t, 1 << 30, true).len(), 2);
    }

    #[test]
    fn an_idle_internal_disk_needs_force() {
        let fake = Fake::new();
        let dir = fake.disk(SATA, "sdc", "8:32", GIB8, &[]);
        let t = fake.inspect("sdc", &dir);
        assert_eq!(refusals(&t, 1 << 30, false).len(), 1);
        assert!(refusals(&t, 1 << 30, true).is_empty());
    }

    #[test]
    fn read_only_small_empty_and_held_cards_are_refused() {
        let fake = Fake::new();
        let dir = usb_card(&fake);
        fake.write(&format!("sys/devices/{USB}/block/sdb/ro"), "1\n");
        let why = refusals(&fake.inspect("sdb", &dir), 16 << 30, true);
        assert!(why.iter().any(|w| w.contains("read-only")), "{why:?}");
        assert!(why.iter().any(|w| w.contains("does not fit")), "{why:?}");

        let mmc = fake.disk(
            "platform/fe340000.mmc/mmc_host/mmc0/mmc0:aaaa",
            "mmcblk0",
            "179:0",
            0,
            &[],
        );
        let t = fake.inspect("mmcblk0", &mmc);
        assert_eq!(t.transport, Transport::Mmc);
        assert_eq!(
            refusals(&t, 1 << 30, false),
            ["it has no medium (empty reader?)"]
        );

        std::fs::create_dir_all(dir.join("sdb2/holders/dm-0")).unwrap();
        fake.write(&format!("sys/devices/{USB}/block/sdb/ro"), "0\n");
        let why = refusals(&fake.inspect("sdb", &dir), 1 << 30, false);
        assert_eq!(why, ["sdb2 is held by dm-0"]);
    }

    #[test]
    fn media_are_seen_by_size() {
        let fake = Fake::new();
        usb_card(&fake);
        fake.disk("virtual", "loop0", "7:0", 0, &[]);
        fake.disk("platform/mmc0", "mmcblk0", "179:0", 0, &[]);
        assert_eq!(
            with_medium(&fake.system()),
            BTreeSet::from(["sdb".to_string()])
        );
    }

    #[test]
    fn regular_files_are_targets_that_grow() {
        let dir = tempfile::tempdir().unwrap();
        let t = inspect(&System::default(), &dir.path().join("card.img")).unwrap();
        assert_eq!(t.transport, Transport::File);
        assert!(!t.is_block && t.size.is_none());
        assert!(refusals(&t, 1 << 40, false).is_empty());
    }
}
