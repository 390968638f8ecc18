//! Partition tables we write are read back by sfdisk as written, with our fixed identifiers,
//! and the same request gives the same bytes.

use std::process::Command;

use imager::cow::CowDisk;
use imager::disk::{write_gpt, write_mbr, NewPartition, PartitionKind, PartitionTable, Scheme};

fn blank(dir: &std::path::Path, mib: u64) -> std::path::PathBuf {
    let path = dir.join("blank.img");
    std::fs::File::create(&path)
        .unwrap()
        .set_len(mib << 20)
        .unwrap();
    path
}

fn parts() -> Vec<NewPartition> {
    vec![
        NewPartition {
            first_sector: 2048,
            sectors: 32768,
            kind: PartitionKind::Fat32,
            bootable: false,
            name: "bootfs".into(),
        },
        NewPartition {
            first_sector: 34816,
            sectors: 65536,
            kind: PartitionKind::Linux,
            bootable: false,
            name: "rootfs".into(),
        },
    ]
}

/// The table as sfdisk reads it (`partitiontable` of `sfdisk --json`).
fn sfdisk(image: &std::path::Path) -> serde_json::Value {
    let out = Command::new("sfdisk")
        .arg("--json")
        .arg(image)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    json["partitiontable"].clone()
}

#[test]
fn mbr_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let base = blank(dir.path(), 64);
    let mut disk = CowDisk::open(&base).unwrap();
    write_mbr(&mut disk, 0x5eed_1234, &parts()).unwrap();
    let out = dir.path().join("mbr.img");
    disk.materialise(&out).unwrap();
    let t = sfdisk(&out);
    assert_eq!(
        (t["label"].as_str(), t["id"].as_str()),
        (Some("dos"), Some("0x5eed1234"))
    );
    let p = &t["partitions"];
    assert_eq!(
        (
            p[0]["start"].as_u64(),
            p[0]["size"].as_u64(),
            p[0]["type"].as_str()
        ),
        (Some(2048), Some(32768), Some("c"))
    );
    assert_eq!(
        (
            p[1]["start"].as_u64(),
            p[1]["size"].as_u64(),
            p[1]["type"].as_str()
        ),
        (Some(34816), Some(65536), Some("83"))
    );
    let table = PartitionTable::read(&mut CowDisk::open(&out).unwrap()).unwrap();
    assert_eq!(table.scheme, Scheme::Mbr);
    assert_eq!(table.partitions[1].partuuid, "5eed1234-02");
}

#[test]
fn gpt_round_trip_with_fixed_guids() {
    let dir = tempfile::tempdir().unwrap();
    let base = blank(dir.path(), 64);
    let guid = uuid::Uuid::parse_str("5eed0000-1111-4222-8333-444455556666").unwrap();
    let write = |name: &str| {
        let mut disk = CowDisk::open(&base).unwrap();
        write_gpt(&mut disk, guid, &parts()).unwrap();
        let out = dir.path().join(name);
        disk.materialise(&out).unwrap();
        out
    };
    let first = write("a.img");
    let second = write("b.img");
    assert_eq!(
        fixtures::sha256(&first),
        fixtures::sha256(&second),
        "no random GUIDs"
    );
    let t = sfdisk(&first);
    assert_eq!(
        (t["label"].as_str(), t["id"].as_str()),
        (Some("gpt"), Some("5EED0000-1111-4222-8333-444455556666"))
    );
    assert_eq!(t["partitions"][1]["name"].as_str(), Some("rootfs"));
    assert_eq!(
        t["partitions"][1]["type"].as_str(),
        Some("0FC63DAF-8483-4772-8E79-3D69D8477DE4")
    );
    let table = PartitionTable::read(&mut CowDisk::open(&first).unwrap()).unwrap();
    assert_eq!(table.scheme, Scheme::Gpt);
    assert_eq!(table.disk_id, guid.to_string());
    assert_eq!(
        (
            table.partitions[0].first_sector,
            table.partitions[0].sectors
        ),
        (2048, 32768)
    );
    assert_eq!(table.partitions[1].type_name, "Linux filesystem");
    let verify = Command::new("sfdisk")
        .arg("--verify")
        .arg(&first)
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}
