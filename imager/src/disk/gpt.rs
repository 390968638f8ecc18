//! GPT tables through the `gpt` crate. Partition GUIDs are derived from the disk GUID, so a
//! table written twice is the same bytes twice.

use std::collections::BTreeMap;

use super::{NewPartition, Partition, PartitionKind, PartitionTable, Scheme, SECTOR};
use crate::cow::CowDisk;
use crate::error::{Error, Result};

pub(super) fn read(disk: &mut CowDisk) -> Result<PartitionTable> {
    let path = disk.base_path().to_owned();
    let gpt = gpt::GptConfig::new()
        .writable(false)
        .logical_block_size(gpt::disk::LogicalBlockSize::Lb512)
        .open_from_device(&mut *disk)
        .map_err(|e| Error::bad_image(&path, format!("unreadable GPT partition table: {e}")))?;
    let partitions = gpt
        .partitions()
        .iter()
        .filter(|(_, p)| p.is_used())
        .map(|(&number, p)| Partition {
            number,
            first_sector: p.first_lba,
            sectors: p.last_lba + 1 - p.first_lba,
            type_code: p.part_type_guid.guid.to_string(),
            type_name: type_name(&p.part_type_guid).to_owned(),
            bootable: p.flags & 0b100 != 0, // legacy BIOS bootable
            partuuid: p.part_guid.to_string(),
            name: Some(p.name.clone()),
        })
        .collect();
    Ok(PartitionTable {
        scheme: Scheme::Gpt,
        disk_id: gpt.guid().to_string(),
        sector_size: SECTOR,
        partitions,
    })
}

fn type_name(t: &gpt::partition_types::Type) -> &'static str {
    use gpt::partition_types as pt;
    if *t == pt::EFI {
        "EFI System"
    } else if *t == pt::BASIC {
        "Microsoft basic data"
    } else if *t == pt::LINUX_FS {
        "Linux filesystem"
    } else if *t == pt::LINUX_SWAP {
        "Linux swap"
    } else {
        "unknown"
    }
}

/// The GUID of partition `number` of the disk `disk_guid`: fixed, distinct, no randomness.
/// A name-based (version 5) UUID with the disk's GUID as its namespace.
pub fn partition_guid(disk_guid: uuid::Uuid, number: u32) -> uuid::Uuid {
    uuid::Uuid::new_v5(&disk_guid, &number.to_le_bytes())
}

/// Writes a GPT (and its protective MBR) with the given disk GUID.
pub fn write_gpt(disk: &mut CowDisk, disk_guid: uuid::Uuid, parts: &[NewPartition]) -> Result<()> {
    let bad = |e: gpt::GptError| Error::Invalid {
        what: "GPT partition table".into(),
        detail: e.to_string(),
    };
    let sectors = disk.len() / SECTOR;
    let mbr = gpt::mbr::ProtectiveMBR::with_lb_size(
        u32::try_from(sectors.saturating_sub(1)).unwrap_or(u32::MAX),
    );
    mbr.overwrite_lba0(&mut *disk).map_err(|e| Error::Invalid {
        what: "protective MBR".into(),
        detail: e.to_string(),
    })?;
    let mut table = gpt::GptConfig::new()
        .writable(true)
        .logical_block_size(gpt::disk::LogicalBlockSize::Lb512)
        .create_from_device(&mut *disk, Some(disk_guid))
        .map_err(bad)?;
    let mut entries = BTreeMap::new();
    for (i, p) in parts.iter().enumerate() {
        let number = i as u32 + 1;
        entries.insert(
            number,
            gpt::partition::Partition {
                part_type_guid: match p.kind {
                    PartitionKind::Fat32 => gpt::partition_types::BASIC,
                    PartitionKind::Linux => gpt::partition_types::LINUX_FS,
                    PartitionKind::EfiSystem => gpt::partition_types::EFI,
                },
                part_guid: partition_guid(disk_guid, number),
                first_lba: p.first_sector,
                last_lba: p.first_sector + p.sectors - 1,
                flags: if p.bootable { 0b100 } else { 0 },
                name: p.name.clone(),
            },
        );
    }
    table.update_partitions(entries).map_err(bad)?;
    table.write().map_err(bad)?;
    Ok(())
}
