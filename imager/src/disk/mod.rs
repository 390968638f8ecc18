//! Partition tables: the MBR of every Raspberry Pi image, and GPT. Read into one plain model,
//! checked against the image's length; written with caller-chosen identifiers only.

mod gpt;
mod mbr;

use serde::Serialize;
use std::io::{Read, Seek, SeekFrom};

use crate::cow::CowDisk;
use crate::error::{Error, Result};

pub use self::gpt::write_gpt;
pub use self::mbr::write_mbr;

pub const SECTOR: u64 = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    Mbr,
    Gpt,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionTable {
    pub scheme: Scheme,
    /// MBR: the 32-bit disk signature as 8 hex digits; GPT: the disk GUID.
    pub disk_id: String,
    pub sector_size: u64,
    pub partitions: Vec<Partition>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Partition {
    /// 1-based, as Linux numbers them (`sda1`, `mmcblk0p2`).
    pub number: u32,
    pub first_sector: u64,
    pub sectors: u64,
    /// MBR: `0x0c`-style type byte; GPT: the type GUID.
    pub type_code: String,
    pub type_name: String,
    pub bootable: bool,
    /// PARTUUID as the kernel's `root=PARTUUID=` sees it.
    pub partuuid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Partition {
    pub fn start(&self) -> u64 {
        self.first_sector * SECTOR
    }

    pub fn size(&self) -> u64 {
        self.sectors * SECTOR
    }
}

/// What a caller asks for when writing a table: sizes in sectors, identifiers fixed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPartition {
    pub first_sector: u64,
    pub sectors: u64,
    pub kind: PartitionKind,
    pub bootable: bool,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionKind {
    Fat32,
    Linux,
    EfiSystem,
}

impl PartitionTable {
    /// Reads and checks the table of `disk`: every partition must lie inside the image.
    pub fn read(disk: &mut CowDisk) -> Result<PartitionTable> {
        let path = disk.base_path().to_owned();
        if disk.len() < 2 * SECTOR {
            return Err(Error::bad_image(
                &path,
                format!(
                    "too small to be a disk image ({} bytes): truncated?",
                    disk.len()
                ),
            ));
        }
        let mut sector0 = [0u8; SECTOR as usize];
        disk.seek(SeekFrom::Start(0))
            .and_then(|_| disk.read_exact(&mut sector0))
            .map_err(|e| Error::io(&path, e))?;
        if sector0[510..512] != [0x55, 0xAA] {
            return Err(Error::bad_image(
                &path,
                "no partition table (no boot signature in sector 0)",
            ));
        }
        if crate::probe::looks_like_fat_boot_sector(&sector0) {
            return Err(Error::bad_image(
                &path,
                "this is a bare FAT filesystem, not a whole disk image with a partition table",
            ));
        }
        let table = if mbr::is_protective(&sector0) {
            gpt::read(disk)?
        } else {
            mbr::read(disk)?
        };
        if table.partitions.is_empty() {
            return Err(Error::bad_image(
                &path,
                "the partition table lists no partitions",
            ));
        }
        for p in &table.partitions {
            let end = p.start() + p.size();
            if end > disk.len() {
                return Err(Error::bad_image(
                    &path,
                    format!(
                        "partition {} ends at byte {end}, past the end of the image ({} bytes): truncated?",
                        p.number,
                        disk.len()
                    ),
                ));
            }
        }
        Ok(table)
    }
}
