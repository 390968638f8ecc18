//! Repairs the `.` and `..` entries of directories that `fatfs` 0.3.6 created: it writes a
//! long-name entry before each of them (rust-fatfs#117, #100) and, on FAT32, points `..` of a
//! first-level directory at the root's cluster instead of 0. `fsck.fat` rejects both; the fix
//! is not in a release yet. This walks the directory tree once and rewrites only those slots.

use std::io;

use crate::window::Window;

const ENTRY: usize = 32;
const ATTR_LFN: u8 = 0x0F;
const ATTR_DIR: u8 = 0x10;
const DELETED: u8 = 0xE5;

struct Layout {
    cluster_bytes: u64,
    fat_offset: u64,
    root_offset: u64,
    root_bytes: u64,
    data_offset: u64,
    fat32: bool,
    fat12: bool,
    root_cluster: u32,
}

fn le16(b: &[u8], at: usize) -> u64 {
    u64::from(u16::from_le_bytes([b[at], b[at + 1]]))
}

fn le32(b: &[u8], at: usize) -> u64 {
    u64::from(u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]))
}

fn layout(w: &Window<'_>) -> io::Result<Layout> {
    let mut bpb = [0u8; 512];
    w.read_at(0, &mut bpb)?;
    let sector = le16(&bpb, 11);
    let per_cluster = u64::from(bpb[13]);
    let reserved = le16(&bpb, 14);
    let fats = u64::from(bpb[16]);
    let root_entries = le16(&bpb, 17);
    let total = match le16(&bpb, 19) {
        0 => le32(&bpb, 32),
        n => n,
    };
    let fat_sectors = match le16(&bpb, 22) {
        0 => le32(&bpb, 36),
        n => n,
    };
    if sector == 0 || per_cluster == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "FAT boot sector has a zero geometry field",
        ));
    }
    let root_sectors = (root_entries * 32).div_ceil(sector);
    let data_sector = reserved + fats * fat_sectors + root_sectors;
    let clusters = total.saturating_sub(data_sector) / per_cluster;
    Ok(Layout {
        cluster_bytes: sector * per_cluster,
        fat_offset: reserved * sector,
        root_offset: (reserved + fats * fat_sectors) * sector,
        root_bytes: root_sectors * sector,
        data_offset: data_sector * sector,
        fat32: clusters >= 65525,
        fat12: clusters < 4085,
        root_cluster: le32(&bpb, 44) as u32,
    })
}

impl Layout {
    fn next(&self, w: &Window<'_>, cluster: u32) -> io::Result<Option<u32>> {
        let c = u64::from(cluster);
        let value = if self.fat32 {
            let mut b = [0u8; 4];
            w.read_at(self.fat_offset + c * 4, &mut b)?;
            u32::from_le_bytes(b) & 0x0FFF_FFFF
        } else if self.fat12 {
            let mut b = [0u8; 2];
            w.read_at(self.fat_offset + c + c / 2, &mut b)?;
            let v = u16::from_le_bytes(b);
            u32::from(if c % 2 == 0 { v & 0x0FFF } else { v >> 4 })
        } else {
            let mut b = [0u8; 2];
            w.read_at(self.fat_offset + c * 2, &mut b)?;
            u32::from(u16::from_le_bytes(b))
        };
        let end = if self.fat32 {
            0x0FFF_FFF7
        } else if self.fat12 {
            0xFF7
        } else {
            0xFFF7
        };
        Ok((2..end).contains(&value).then_some(value))
    }

    fn cluster_offset(&self, cluster: u32) -> u64 {
        self.data_offset + u64::from(cluster - 2) * self.cluster_bytes
    }

    /// Byte offsets of every 32-byte slot of a directory (0 = the fixed FAT12/16 root).
    fn slots(&self, w: &Window<'_>, first: u32) -> io::Result<Vec<u64>> {
        let mut out = Vec::new();
        if first == 0 {
            out.extend((0..self.root_bytes / 32).map(|i| self.root_offset + i * 32));
            return Ok(out);
        }
        let mut cluster = Some(first);
        let mut guard = 0;
        while let Some(c) = cluster {
            let base = self.cluster_offset(c);
            out.extend((0..self.cluster_bytes / 32).map(|i| base + i * 32));
            cluster = self.next(w, c)?;
            guard += 1;
            if guard > 1 << 20 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "FAT cluster chain loops",
                ));
            }
        }
        Ok(out)
    }
}

fn entry_cluster(e: &[u8]) -> u32 {
    (le16(e, 20) << 16 | le16(e, 26)) as u32
}

/// Walks every directory and repairs the ones that start with a long-name slot before `.`.
pub fn repair(w: &mut Window<'_>) -> io::Result<usize> {
    let l = layout(w)?;
    let root = if l.fat32 { l.root_cluster } else { 0 };
    let mut repaired = 0;
    // (directory's first cluster, its parent's cluster as `..` must name it: 0 for the root)
    let mut pending = vec![(root, u32::MAX)];
    let mut seen = std::collections::BTreeSet::new();
    while let Some((dir, parent)) = pending.pop() {
        if !seen.insert(dir) {
            continue;
        }
        let slots = l.slots(w, dir)?;
        if parent != u32::MAX && slots.len() >= 4 {
            repaired += usize::from(repair_dots(w, &slots, parent)?);
        }
        let me = if dir == root { 0 } else { dir };
        for &at in &slots {
            let mut e = [0u8; ENTRY];
            w.read_at(at, &mut e)?;
            match e[0] {
                0x00 => break,
                DELETED | b'.' => continue,
                _ => {}
            }
            if e[11] != ATTR_LFN && e[11] & ATTR_DIR != 0 {
                let child = entry_cluster(&e);
                if child >= 2 {
                    pending.push((child, me));
                }
            }
        }
    }
    Ok(repaired)
}

/// `[LFN, ".", LFN, "..", …]` becomes `[".", "..", deleted, deleted, …]`, `..` set to `parent`.
fn repair_dots(w: &mut Window<'_>, slots: &[u64], parent: u32) -> io::Result<bool> {
    let mut e = [[0u8; ENTRY]; 4];
    for (i, slot) in e.iter_mut().enumerate() {
        w.read_at(slots[i], slot)?;
    }
    let is = |s: &[u8; ENTRY], name: &[u8; 11]| {
        s[11] & ATTR_DIR != 0 && s[11] != ATTR_LFN && &s[..11] == name
    };
    let broken = e[0][11] == ATTR_LFN
        && is(&e[1], b".          ")
        && e[2][11] == ATTR_LFN
        && is(&e[3], b"..         ");
    if !broken {
        return Ok(false);
    }
    let dot = e[1];
    let mut dotdot = e[3];
    dotdot[20..22].copy_from_slice(&((parent >> 16) as u16).to_le_bytes());
    dotdot[26..28].copy_from_slice(&(parent as u16).to_le_bytes());
    let mut deleted = [0u8; ENTRY];
    deleted[0] = DELETED;
    w.write_at(slots[0], &dot)?;
    w.write_at(slots[1], &dotdot)?;
    w.write_at(slots[2], &deleted)?;
    w.write_at(slots[3], &deleted)?;
    Ok(true)
}
