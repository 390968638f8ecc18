//! The used map is proof enough to skip the rest: copy only its ranges (data, then the table)
//! onto a file full of random bytes, and the copy's filesystems are fsck-clean and hold exactly
//! the image's files, on every layout the fixtures have.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;

use fixtures::Fixture;
use imager::usedmap::{total, used_map};
use imager::{Image, Target};

fn copy_ranges(from: &Path, to: &Path, ranges: &[(u64, u64)]) {
    let src = File::open(from).unwrap();
    let dst = std::fs::OpenOptions::new().write(true).open(to).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    for &(start, end) in ranges {
        let mut at = start;
        while at < end {
            let n = ((end - at) as usize).min(buf.len());
            src.read_exact_at(&mut buf[..n], at).unwrap();
            dst.write_all_at(&buf[..n], at).unwrap();
            at += n as u64;
        }
    }
    (&dst).flush().unwrap();
}

fn check(fixture: Fixture) {
    let name = fixture.name();
    let image = fixture.build();
    let map = used_map(&image).unwrap();
    let len = std::fs::metadata(&image).unwrap().len();
    assert!(map.data_bytes() < len, "{name}: the map skips nothing");
    let dir = tempfile::tempdir().unwrap();
    let card = dir.path().join("card.img");
    fixtures::random_file(&card, len);
    copy_ranges(&image, &card, &map.data);
    copy_ranges(&image, &card, &map.table);

    let fat = fixtures::fsck_fat(&card, 1);
    assert!(fat.clean, "{name}: fsck.fat on the card:\n{}", fat.output);
    let ext4 = fixtures::e2fsck(&card, 2);
    assert!(ext4.clean, "{name}: e2fsck on the card:\n{}", ext4.output);
    let mut a = Image::open(&image).unwrap();
    let mut b = Image::open(&card).unwrap();
    for target in [Target::Boot, Target::Root] {
        assert_eq!(
            imager::listing::listing(&mut a, target).unwrap(),
            imager::listing::listing(&mut b, target).unwrap(),
            "{name}: {target:?} differs on the card"
        );
    }
    eprintln!(
        "{name}: {} of {} bytes written ({} partitions: {:?})",
        total(&map.data) + total(&map.table),
        len,
        map.partitions.len(),
        map.partitions
            .iter()
            .map(|p| (&p.filesystem, p.used))
            .collect::<Vec<_>>()
    );
}

#[test]
fn copying_the_used_map_onto_random_bytes_gives_the_same_filesystems() {
    check(Fixture::new("bookworm").sized(256, 16));
    check(Fixture::new("bullseye").block_size(1024));
    check(Fixture::new("hypriot").metadata_csum(false));
    check(Fixture::new("trixie").gpt());
}
