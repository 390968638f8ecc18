//! Bad input gets exit code 2, one message that names the file and the problem, and nothing
//! written: no output image, no partial file in the cache.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{piimage, piimage_with, redact, Run};
use fixtures::Fixture;

struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new() -> Case {
        Case {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn cache(&self) -> PathBuf {
        self.path("cache")
    }

    /// Runs inspect, checks exit 2 and that nothing was left behind, returns stderr redacted.
    fn inspect_fails(&self, image: &Path) -> String {
        let run = piimage(&self.cache(), &["inspect", image.to_str().unwrap()]);
        self.failed(run)
    }

    fn failed(&self, run: Run) -> String {
        assert_eq!(
            run.code, 2,
            "stdout: {}\nstderr: {}",
            run.stdout, run.stderr
        );
        assert!(run.stdout.is_empty(), "nothing on stdout: {}", run.stdout);
        let leftovers: Vec<_> = walk(self.dir.path())
            .into_iter()
            .filter(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                name.ends_with(".partial") || name.ends_with(".out.img")
            })
            .collect();
        assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
        redact(&run.stderr, self.dir.path(), "[DIR]")
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}

fn sh(cmd: &str) {
    let status = Command::new("sh").arg("-c").arg(cmd).status().unwrap();
    assert!(status.success(), "{cmd}");
}

#[test]
fn missing_file() {
    let case = Case::new();
    insta::assert_snapshot!(case.inspect_fails(&case.path("nope.img")), @"error: [DIR]/nope.img: no such file");
}

#[test]
fn a_directory() {
    let case = Case::new();
    std::fs::create_dir(case.path("dir.img")).unwrap();
    insta::assert_snapshot!(case.inspect_fails(&case.path("dir.img")), @"error: [DIR]/dir.img: is a directory, not an image file");
}

#[test]
fn too_short_to_be_an_image() {
    let case = Case::new();
    std::fs::write(case.path("tiny.img"), [0u8; 300]).unwrap();
    insta::assert_snapshot!(case.inspect_fails(&case.path("tiny.img")), @"error: [DIR]/tiny.img: too small to be a disk image (300 bytes): truncated?");
}

#[test]
fn no_partition_table() {
    let case = Case::new();
    std::fs::write(case.path("zeros.img"), vec![0u8; 1 << 20]).unwrap();
    insta::assert_snapshot!(case.inspect_fails(&case.path("zeros.img")), @"error: [DIR]/zeros.img: no partition table (no boot signature in sector 0)");
}

#[test]
fn truncated_download() {
    let case = Case::new();
    let base = Fixture::new("bookworm").build();
    let cut = case.path("cut.img");
    sh(&format!(
        "head -c 600M {} > {}",
        base.display(),
        cut.display()
    ));
    insta::assert_snapshot!(case.inspect_fails(&cut), @"error: [DIR]/cut.img: partition 2 ends at byte 679477248, past the end of the image (629145600 bytes): truncated?");
}

#[test]
fn partition_neither_fat_nor_ext4() {
    let case = Case::new();
    let img = case.path("blank.img");
    sh(&format!("truncate -s 64M {0} && printf 'label: dos\\nlabel-id: 0x1234abcd\\nstart=2048, size=32768, type=c\\nstart=34816, type=83\\n' | sfdisk -q {0}", img.display()));
    insta::assert_snapshot!(case.inspect_fails(&img), @"error: [DIR]/blank.img: partition 1 (type 0x0c, 16777216 bytes at byte 1048576) holds neither a FAT nor an ext4 filesystem");
}

#[test]
fn bare_filesystem_instead_of_a_disk() {
    let case = Case::new();
    let fat = case.path("boot.fat");
    sh(&format!(
        "truncate -s 32M {0} && mkfs.vfat -F 32 {0} >/dev/null",
        fat.display()
    ));
    insta::assert_snapshot!(case.inspect_fails(&fat), @"error: [DIR]/boot.fat: this is a bare FAT filesystem, not a whole disk image with a partition table");
}

#[test]
fn corrupt_xz() {
    let case = Case::new();
    let mut bytes = vec![0xFD, b'7', b'z', b'X', b'Z', 0x00];
    bytes.extend(std::iter::repeat_n(0x5A, 4096));
    std::fs::write(case.path("bad.img.xz"), bytes).unwrap();
    insta::assert_snapshot!(case.inspect_fails(&case.path("bad.img.xz")), @"error: [DIR]/bad.img.xz: corrupt or truncated xz data: lzma data error");
}

#[test]
fn truncated_xz() {
    let case = Case::new();
    let base = Fixture::new("hypriot").build();
    let xz = case.path("half.img.xz");
    sh(&format!(
        "xz -0 -c {} | head -c 20000 > {}",
        base.display(),
        xz.display()
    ));
    insta::assert_snapshot!(case.inspect_fails(&xz), @"error: [DIR]/half.img.xz: corrupt or truncated xz data: premature eof");
}

#[test]
fn zip_without_an_image() {
    let case = Case::new();
    std::fs::write(case.path("README"), "hello\n").unwrap();
    sh(&format!(
        "cd {} && zip -q notes.zip README",
        case.dir.path().display()
    ));
    insta::assert_snapshot!(case.inspect_fails(&case.path("notes.zip")), @"error: [DIR]/notes.zip: the zip archive holds no .img file");
}

fn apply_fails(case: &Case, ops: &str, env: &[(&str, &str)]) -> String {
    let base = Fixture::new("bookworm").build();
    std::fs::write(case.path("ops.yaml"), ops).unwrap();
    let out = case.path("p1.out.img");
    let run = piimage_with(
        &case.cache(),
        &[
            "apply",
            base.to_str().unwrap(),
            "--ops",
            case.path("ops.yaml").to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
        env,
    );
    let stderr = case.failed(run);
    assert!(!out.exists(), "no output image after a failure");
    redact(&stderr, &base, "[BASE]")
}

#[test]
fn ops_with_an_unknown_key() {
    let case = Case::new();
    let err = apply_fails(
        &case,
        "- { op: write, fs: root, path: /etc/hostname, content: x, colour: red }\n",
        &[],
    );
    insta::assert_snapshot!(err, @"error: [DIR]/ops.yaml: line 1: operation 1: unknown field `colour`, expected one of `fs`, `path`, `content`, `mode`, `owner`");
}

#[test]
fn ops_with_a_bad_mode() {
    let case = Case::new();
    let err = apply_fails(
        &case,
        "- op: chmod\n  fs: root\n  path: /etc/hostname\n  mode: \"0999\"\n",
        &[],
    );
    insta::assert_snapshot!(err, @r#"error: [DIR]/ops.yaml: line 1: operation 1: mode "0999" is not an octal permission mode like "0644""#);
}

#[test]
fn op_that_cannot_be_done() {
    let case = Case::new();
    let err = apply_fails(&case, "- { op: write, fs: root, path: /etc/motd, content: ok }\n- { op: write, fs: root, path: /etc/hostname/x, content: no }\n", &[]);
    insta::assert_snapshot!(err, @r"
    error: applying [DIR]/ops.yaml to [BASE]
      caused by: file operation 2 (write /etc/hostname/x): ext4 filesystem: /etc/hostname/x: hostname is not a directory
    ");
}

#[test]
fn bad_source_date_epoch() {
    let case = Case::new();
    let err = apply_fails(
        &case,
        "- { op: write, fs: root, path: /etc/motd, content: ok }\n",
        &[("SOURCE_DATE_EPOCH", "last tuesday")],
    );
    insta::assert_snapshot!(err, @r#"error: SOURCE_DATE_EPOCH="last tuesday" is not a whole number of seconds"#);
}
