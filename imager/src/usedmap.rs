//! Which bytes of an image a card needs: what the filesystems use, by their own accounts (ext4
//! block bitmaps and group descriptors, FAT tables), their metadata, and everything outside
//! the filesystems. Bytes are never skipped for being zero: a free block is free because the
//! filesystem says so, and a FAT table full of zeros is still written. The partition table is
//! kept apart so that flash writes it last.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::cow::CowDisk;
use crate::disk::{PartitionTable, Scheme, SECTOR};
use crate::probe::{probe, Probe};
use crate::window::Window;
use crate::{Error, Result};

/// Ranges are aligned to this (direct I/O's unit), and ranges closer than `MERGE_GAP` are
/// joined: a few free blocks written cost less than a seek on a card.
pub const ALIGN: u64 = 4096;
const MERGE_GAP: u64 = 256 * 1024;

/// Byte ranges `[start, end)`, sorted and disjoint.
pub type Ranges = Vec<(u64, u64)>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsedMap {
    pub image_len: u64,
    /// Everything to write before the partition table.
    pub data: Ranges,
    /// The partition table's sectors, written last.
    pub table: Ranges,
    /// Per partition: number, what it holds, and the bytes in `data` that belong to it.
    pub partitions: Vec<PartitionUse>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionUse {
    pub number: u32,
    pub filesystem: String,
    pub size: u64,
    pub used: u64,
}

impl UsedMap {
    pub fn data_bytes(&self) -> u64 {
        total(&self.data)
    }

    pub fn table_bytes(&self) -> u64 {
        total(&self.table)
    }
}

pub fn total(ranges: &[(u64, u64)]) -> u64 {
    ranges.iter().map(|(s, e)| e - s).sum()
}

/// The used map of a raw image file.
pub fn used_map(path: &Path) -> Result<UsedMap> {
    let mut disk = CowDisk::open(path)?;
    let table = PartitionTable::read(&mut disk)?;
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let read = |offset: u64, buf: &mut [u8]| {
        file.read_exact_at(buf, offset)
            .map_err(|e| Error::io(path, e))
    };

    let table_ranges = table_sectors(&table, len);
    let mut data: Ranges = Vec::new();
    // Outside every partition: the gap before the first (boot code lives there on some
    // boards) and anything between or after.
    let mut covered: Ranges = table
        .partitions
        .iter()
        .map(|p| (p.start(), p.start() + p.size()))
        .collect();
    covered.sort();
    let mut at = 0;
    for (s, e) in &covered {
        if *s > at {
            data.push((at, *s));
        }
        at = at.max(*e);
    }
    if at < len {
        data.push((at, len));
    }

    let mut partitions = Vec::new();
    for p in &table.partitions {
        let window = Window::new(&mut disk, p.start(), p.size());
        let kind = probe(&window).map_err(|e| Error::io(path, e))?;
        let read_part = |offset: u64, buf: &mut [u8]| read(p.start() + offset, buf);
        let (filesystem, ranges) = match kind {
            Probe::Ext4(_) => (
                "ext4",
                ext4_used(p.size(), &read_part).map_err(|detail| {
                    Error::bad_image(path, format!("partition {}: ext4: {detail}", p.number))
                })?,
            ),
            Probe::Fat { bits } => (
                match bits {
                    12 => "fat12",
                    16 => "fat16",
                    _ => "fat32",
                },
                fat_used(p.size(), &read_part).map_err(|detail| {
                    Error::bad_image(path, format!("partition {}: FAT: {detail}", p.number))
                })?,
            ),
            // Not a filesystem we can read: all of it.
            Probe::Unknown => ("unknown", vec![(0, p.size())]),
        };
        let ranges = normalise(
            ranges
                .into_iter()
                .map(|(s, e)| (p.start() + s, p.start() + e))
                .collect(),
            p.start(),
            p.start() + p.size(),
        );
        partitions.push(PartitionUse {
            number: p.number,
            filesystem: filesystem.to_string(),
            size: p.size(),
            used: total(&ranges),
        });
        data.extend(ranges);
    }
    let data = subtract(&normalise(data, 0, len), &table_ranges);
    Ok(UsedMap {
        image_len: len,
        data,
        table: table_ranges,
        partitions,
    })
}

/// The sectors holding the partition table, aligned out to `ALIGN`.
fn table_sectors(table: &PartitionTable, len: u64) -> Ranges {
    let mut ranges = match table.scheme {
        Scheme::Mbr => vec![(0, SECTOR)],
        // Protective MBR, header and entries at the start; entries and header at the end.
        Scheme::Gpt => vec![(0, 34 * SECTOR), (len.saturating_sub(33 * SECTOR), len)],
    };
    for r in &mut ranges {
        r.0 = r.0 / ALIGN * ALIGN;
        r.1 = r.1.div_ceil(ALIGN).saturating_mul(ALIGN).min(len);
    }
    ranges
}

/// Sorted, aligned to `ALIGN` within `[lo, hi)`, close neighbours merged.
fn normalise(mut ranges: Ranges, lo: u64, hi: u64) -> Ranges {
    for r in &mut ranges {
        r.0 = (r.0 / ALIGN * ALIGN).max(lo);
        r.1 = r.1.div_ceil(ALIGN).saturating_mul(ALIGN).min(hi);
    }
    ranges.retain(|(s, e)| s < e);
    ranges.sort();
    let mut out: Ranges = Vec::with_capacity(ranges.len());
    for (s, e) in ranges {
        match out.last_mut() {
            Some(last) if s <= last.1 + MERGE_GAP => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// `ranges` minus `holes` (both sorted).
fn subtract(ranges: &[(u64, u64)], holes: &[(u64, u64)]) -> Ranges {
    let mut out = Vec::new();
    for &(mut s, e) in ranges {
        for &(hs, he) in holes {
            if he <= s || hs >= e {
                continue;
            }
            if hs > s {
                out.push((s, hs));
            }
            s = s.max(he);
        }
        if s < e {
            out.push((s, e));
        }
    }
    out
}

fn le16(b: &[u8], at: usize) -> u64 {
    u64::from(u16::from_le_bytes([b[at], b[at + 1]]))
}

fn le32(b: &[u8], at: usize) -> u64 {
    u64::from(u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]))
}

type ReadAt<'a> = dyn Fn(u64, &mut [u8]) -> Result<()> + 'a;

/// Used blocks of an ext4 filesystem as byte ranges from the partition start.
fn ext4_used(part_len: u64, read: &ReadAt) -> Result<Ranges, String> {
    let mut sb = [0u8; 1024];
    read(1024, &mut sb).map_err(|e| e.to_string())?;
    let compat = le32(&sb, 0x5C);
    let incompat = le32(&sb, 0x60);
    let ro_compat = le32(&sb, 0x64);
    let is_64 = incompat & 0x80 != 0;
    if incompat & 0x10 != 0 {
        // meta_bg scatters descriptors; not made by any Pi image tool. Write it all.
        return Ok(vec![(0, part_len)]);
    }
    let block_size = 1024u64 << le32(&sb, 0x18).min(6);
    let blocks = le32(&sb, 0x04) | if is_64 { le32(&sb, 0x150) << 32 } else { 0 };
    let first_data_block = le32(&sb, 0x14);
    let per_group = le32(&sb, 0x20);
    let inodes_per_group = le32(&sb, 0x28);
    let inode_size = if le32(&sb, 0x4C) == 0 {
        128
    } else {
        le16(&sb, 0x58)
    };
    let desc_size = if is_64 { le16(&sb, 0xFE).max(32) } else { 32 };
    let reserved_gdt = if compat & 0x10 != 0 {
        le16(&sb, 0xCE)
    } else {
        0
    };
    if per_group == 0 || blocks == 0 || blocks * block_size > part_len {
        return Err(format!(
            "superblock describes {blocks} blocks of {block_size} bytes ({per_group} per group), which do not fit the partition"
        ));
    }
    let groups = (blocks - first_data_block).div_ceil(per_group);
    let gdt_blocks = (groups * desc_size).div_ceil(block_size);
    let sparse_super = ro_compat & 0x1 != 0;
    let sparse_super2 = compat & 0x200 != 0;
    let backups = [le32(&sb, 0x24C), le32(&sb, 0x250)];
    let has_super = |g: u64| -> bool {
        if g == 0 {
            return true;
        }
        if sparse_super2 {
            return backups.contains(&g);
        }
        if !sparse_super || g == 1 {
            return true;
        }
        [3u64, 5, 7].iter().any(|&base| {
            let mut p = base;
            while p < g {
                p *= base;
            }
            p == g
        })
    };

    let mut gdt = vec![0u8; (gdt_blocks * block_size) as usize];
    read((first_data_block + 1) * block_size, &mut gdt).map_err(|e| e.to_string())?;
    struct Desc {
        block_bitmap: u64,
        inode_bitmap: u64,
        inode_table: u64,
        flags: u64,
    }
    let descs: Vec<Desc> = (0..groups as usize)
        .map(|g| {
            let d = &gdt[g * desc_size as usize..(g + 1) * desc_size as usize];
            let hi = |at: usize| {
                if desc_size >= 64 {
                    le32(d, at) << 32
                } else {
                    0
                }
            };
            Desc {
                block_bitmap: le32(d, 0x00) | hi(0x20),
                inode_bitmap: le32(d, 0x04) | hi(0x24),
                inode_table: le32(d, 0x08) | hi(0x28),
                flags: le16(d, 0x12),
            }
        })
        .collect();
    let itable_blocks = (inodes_per_group * inode_size).div_ceil(block_size);

    let mut used: Ranges = vec![(0, (first_data_block + 1) * block_size)];
    let mut bitmap = vec![0u8; block_size as usize];
    for (g, desc) in descs.iter().enumerate() {
        let g = g as u64;
        let first = first_data_block + g * per_group;
        let count = per_group.min(blocks - first);
        if desc.flags & 0x2 != 0 {
            // BLOCK_UNINIT: no bitmap on disk. In use: the superblock backup and descriptor
            // copies if this group has them, and any group's bitmaps and inode table placed
            // here (flex_bg puts them in the first group of each flex group).
            if has_super(g) {
                used.push((
                    first * block_size,
                    (first + 1 + gdt_blocks + reserved_gdt) * block_size,
                ));
            }
            for d in &descs {
                for (start, n) in [
                    (d.block_bitmap, 1),
                    (d.inode_bitmap, 1),
                    (d.inode_table, itable_blocks),
                ] {
                    if start >= first && start < first + count {
                        used.push((start * block_size, (start + n) * block_size));
                    }
                }
            }
            continue;
        }
        if desc.block_bitmap >= blocks {
            return Err(format!(
                "group {g}'s block bitmap is at block {}, past the end",
                desc.block_bitmap
            ));
        }
        read(desc.block_bitmap * block_size, &mut bitmap).map_err(|e| e.to_string())?;
        let mut run: Option<u64> = None;
        for i in 0..count {
            let set = bitmap[(i / 8) as usize] & (1 << (i % 8)) != 0;
            match (set, run) {
                (true, None) => run = Some(i),
                (false, Some(s)) => {
                    used.push(((first + s) * block_size, (first + i) * block_size));
                    run = None;
                }
                _ => {}
            }
        }
        if let Some(s) = run {
            used.push(((first + s) * block_size, (first + count) * block_size));
        }
    }
    Ok(used)
}

/// Used clusters of a FAT filesystem, plus its reserved sectors, FATs and FAT12/16 root
/// directory, as byte ranges from the partition start.
fn fat_used(part_len: u64, read: &ReadAt) -> Result<Ranges, String> {
    let mut bs = [0u8; 512];
    read(0, &mut bs).map_err(|e| e.to_string())?;
    let bps = le16(&bs, 0x0B);
    let spc = u64::from(bs[0x0D]);
    let reserved = le16(&bs, 0x0E);
    let fats = u64::from(bs[0x10]);
    let root_entries = le16(&bs, 0x11);
    let total = match le16(&bs, 0x13) {
        0 => le32(&bs, 0x20),
        n => n,
    };
    let fat_sectors = match le16(&bs, 0x16) {
        0 => le32(&bs, 0x24),
        n => n,
    };
    if bps == 0 || spc == 0 || fats == 0 || total * bps > part_len {
        return Err("the boot sector's geometry does not fit the partition".into());
    }
    let root_sectors = (root_entries * 32).div_ceil(bps);
    let data_start = reserved + fats * fat_sectors + root_sectors;
    let clusters = total.saturating_sub(data_start) / spc;
    let bits = if clusters < 4085 {
        12
    } else if clusters < 65525 {
        16
    } else {
        32
    };
    let mut fat = vec![0u8; (fat_sectors * bps) as usize];
    read(reserved * bps, &mut fat).map_err(|e| e.to_string())?;
    let entry = |n: u64| -> u64 {
        match bits {
            12 => {
                let at = (n + n / 2) as usize;
                if at + 1 >= fat.len() {
                    return 0;
                }
                let v = le16(&fat, at);
                if n.is_multiple_of(2) {
                    v & 0xFFF
                } else {
                    v >> 4
                }
            }
            16 => fat
                .get(2 * n as usize + 1)
                .map_or(0, |_| le16(&fat, 2 * n as usize)),
            _ => fat
                .get(4 * n as usize + 3)
                .map_or(0, |_| le32(&fat, 4 * n as usize) & 0x0FFF_FFFF),
        }
    };
    let cluster_bytes = spc * bps;
    let mut used: Ranges = vec![(0, data_start * bps)];
    let mut run: Option<u64> = None;
    for n in 2..clusters + 2 {
        let set = entry(n) != 0;
        match (set, run) {
            (true, None) => run = Some(n),
            (false, Some(s)) => {
                used.push((
                    data_start * bps + (s - 2) * cluster_bytes,
                    data_start * bps + (n - 2) * cluster_bytes,
                ));
                run = None;
            }
            _ => {}
        }
    }
    if let Some(s) = run {
        used.push((
            data_start * bps + (s - 2) * cluster_bytes,
            data_start * bps + clusters * cluster_bytes,
        ));
    }
    Ok(used)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_aligned_sorted_and_merged() {
        let r = normalise(
            vec![(10_000_000, 10_000_001), (100, 200), (5000, 6000)],
            0,
            u64::MAX,
        );
        assert_eq!(r, vec![(0, 8192), (9_998_336, 10_002_432)]);
    }

    #[test]
    fn the_table_is_cut_out_of_the_data() {
        assert_eq!(
            subtract(
                &[(0, 100_000), (200_000, 300_000)],
                &[(0, 4096), (250_000, 260_000)]
            ),
            vec![(4096, 100_000), (200_000, 250_000), (260_000, 300_000)]
        );
    }
}
