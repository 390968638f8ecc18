//! MBR (DOS) tables through `mbrman`.

use std::io::{Seek, SeekFrom};

use super::{NewPartition, Partition, PartitionKind, PartitionTable, Scheme, SECTOR};
use crate::cow::CowDisk;
use crate::error::{Error, Result};

/// A protective MBR (one partition of type 0xEE) means the real table is GPT.
pub(super) fn is_protective(sector0: &[u8]) -> bool {
    (0..4).any(|i| sector0[446 + 16 * i + 4] == 0xEE)
}

pub(super) fn read(disk: &mut CowDisk) -> Result<PartitionTable> {
    let path = disk.base_path().to_owned();
    disk.seek(SeekFrom::Start(0))
        .map_err(|e| Error::io(&path, e))?;
    let mbr = mbrman::MBR::read_from(disk, SECTOR as u32)
        .map_err(|e| Error::bad_image(&path, format!("unreadable MBR partition table: {e}")))?;
    let disk_id = u32::from_le_bytes(mbr.header.disk_signature);
    let primaries = mbr
        .iter()
        .filter(|(_, p)| p.is_used() && !p.is_extended())
        .map(|(i, p)| {
            (
                i as u32,
                u64::from(p.starting_lba),
                u64::from(p.sectors),
                p.sys,
                p.is_active(),
            )
        });
    let logicals = mbr
        .logical_partitions
        .iter()
        .enumerate()
        .filter(|(_, l)| l.partition.is_used())
        .map(|(i, l)| {
            let p = &l.partition;
            (
                5 + i as u32,
                u64::from(p.starting_lba),
                u64::from(p.sectors),
                p.sys,
                p.is_active(),
            )
        });
    let partitions = primaries
        .chain(logicals)
        .map(|(number, first_sector, sectors, sys, bootable)| Partition {
            number,
            first_sector,
            sectors,
            type_code: format!("0x{sys:02x}"),
            type_name: type_name(sys).to_owned(),
            bootable,
            partuuid: format!("{disk_id:08x}-{number:02x}"),
            name: None,
        })
        .collect();
    Ok(PartitionTable {
        scheme: Scheme::Mbr,
        disk_id: format!("{disk_id:08x}"),
        sector_size: SECTOR,
        partitions,
    })
}

fn type_name(sys: u8) -> &'static str {
    match sys {
        0x01 => "FAT12",
        0x04 | 0x06 | 0x0e => "FAT16",
        0x0b | 0x0c => "FAT32",
        0x82 => "Linux swap",
        0x83 => "Linux",
        0x8e => "Linux LVM",
        0xef => "EFI System",
        _ => "unknown",
    }
}

/// Writes an MBR with the given disk signature and up to four primary partitions.
pub fn write_mbr(disk: &mut CowDisk, disk_id: u32, parts: &[NewPartition]) -> Result<()> {
    let path = disk.base_path().to_owned();
    if parts.len() > 4 {
        return Err(Error::Invalid {
            what: "MBR partition table".into(),
            detail: format!(
                "{} partitions asked for, at most 4 primary fit",
                parts.len()
            ),
        });
    }
    let bad = |e: mbrman::Error| Error::Invalid {
        what: "MBR partition table".into(),
        detail: e.to_string(),
    };
    let mut mbr = mbrman::MBR::new_from(disk, SECTOR as u32, disk_id.to_le_bytes()).map_err(bad)?;
    for (i, p) in parts.iter().enumerate() {
        let too_big = || Error::Invalid {
            what: format!("partition {}", i + 1),
            detail: "does not fit the 32-bit sector fields of an MBR".into(),
        };
        mbr[i + 1] = mbrman::MBRPartitionEntry {
            boot: if p.bootable {
                mbrman::BOOT_ACTIVE
            } else {
                mbrman::BOOT_INACTIVE
            },
            first_chs: mbrman::CHS::empty(),
            sys: match p.kind {
                PartitionKind::Fat32 => 0x0c,
                PartitionKind::Linux => 0x83,
                PartitionKind::EfiSystem => 0xef,
            },
            last_chs: mbrman::CHS::empty(),
            starting_lba: u32::try_from(p.first_sector).map_err(|_| too_big())?,
            sectors: u32::try_from(p.sectors).map_err(|_| too_big())?,
        };
    }
    disk.seek(SeekFrom::Start(0))
        .map_err(|e| Error::io(&path, e))?;
    mbr.write_into(disk).map_err(bad)
}
