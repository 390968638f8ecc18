//! Telling what a partition holds from its first bytes: an ext2/3/4 superblock or a FAT boot
//! sector. Only headers are read; the filesystem crates do the rest.

use serde::Serialize;

use crate::window::Window;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Probe {
    Ext4(Ext4Super),
    Fat { bits: u8 },
    Unknown,
}

/// The fields of an ext4 superblock that inspect reports and bake needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ext4Super {
    pub label: String,
    pub uuid: String,
    pub block_size: u64,
    pub blocks: u64,
    pub free_blocks: u64,
    pub inodes: u32,
    pub free_inodes: u32,
    /// Last write time (seconds since the epoch).
    pub last_write: i64,
    pub metadata_csum: bool,
    pub is_64bit: bool,
}

pub fn probe(window: &Window<'_>) -> std::io::Result<Probe> {
    if window.len() >= 2048 {
        let mut sb = [0u8; 1024];
        window.read_at(1024, &mut sb)?;
        if u16le(&sb, 0x38) == 0xEF53 {
            return Ok(Probe::Ext4(parse_ext4(&sb)));
        }
    }
    if window.len() >= 512 {
        let mut boot = [0u8; 512];
        window.read_at(0, &mut boot)?;
        if looks_like_fat_boot_sector(&boot) {
            let bits = if &boot[0x52..0x57] == b"FAT32" {
                32
            } else if &boot[0x36..0x3b] == b"FAT12" {
                12
            } else {
                16
            };
            return Ok(Probe::Fat { bits });
        }
    }
    Ok(Probe::Unknown)
}

/// A FAT volume boot record: a jump, a sane sector size, and a FAT signature string.
pub fn looks_like_fat_boot_sector(s: &[u8; 512]) -> bool {
    let jump = s[0] == 0xEB || s[0] == 0xE9;
    let bytes_per_sector = u16le(s, 0x0b);
    let sane = matches!(bytes_per_sector, 512 | 1024 | 2048 | 4096) && s[0x0d] != 0;
    let signature = &s[0x36..0x39] == b"FAT" || &s[0x52..0x55] == b"FAT";
    jump && sane && signature && s[510..512] == [0x55, 0xAA]
}

fn parse_ext4(sb: &[u8]) -> Ext4Super {
    let incompat = u32le(sb, 0x60);
    let ro_compat = u32le(sb, 0x64);
    let is_64bit = incompat & 0x80 != 0;
    let hi = |lo: usize, hi: usize| {
        let hi = if is_64bit {
            u64::from(u32le(sb, hi))
        } else {
            0
        };
        u64::from(u32le(sb, lo)) | (hi << 32)
    };
    let label_bytes = &sb[0x78..0x88];
    let label_len = label_bytes.iter().position(|&b| b == 0).unwrap_or(16);
    let u = &sb[0x68..0x78];
    let mut uuid = [0u8; 16];
    uuid.copy_from_slice(u);
    Ext4Super {
        label: String::from_utf8_lossy(&label_bytes[..label_len]).into_owned(),
        uuid: uuid::Uuid::from_bytes(uuid).to_string(),
        block_size: 1024u64 << u32le(sb, 0x18).min(6),
        blocks: hi(0x04, 0x150),
        free_blocks: hi(0x0c, 0x158),
        inodes: u32le(sb, 0x00),
        free_inodes: u32le(sb, 0x10),
        last_write: i64::from(u32le(sb, 0x30)),
        metadata_csum: ro_compat & 0x400 != 0,
        is_64bit,
    }
}

fn u16le(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32le(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
