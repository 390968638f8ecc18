//! `piimage flash` onto regular files and onto loop devices the tests create (never a real
//! disk). Judges: fsck of the target's filesystems, and the target holding exactly the
//! image's files although it was full of random bytes before.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use common::{piimage_with, stage_lab};
use fixtures::Fixture;
use imager::{Image, Target};

/// Loop devices appear machine-wide (and --watch takes any that appears): one test at a time.
static LOOPS: Mutex<()> = Mutex::new(());

/// The target holds the image's filesystems: fsck-clean, and the same files.
fn assert_same_as(image: &Path, target: &Path) {
    let fat = fixtures::fsck_fat(target, 1);
    assert!(fat.clean, "{}: fsck.fat:\n{}", target.display(), fat.output);
    let ext4 = fixtures::e2fsck(target, 2);
    assert!(ext4.clean, "{}: e2fsck:\n{}", target.display(), ext4.output);
    let mut a = Image::open(image).unwrap();
    let mut b = Image::open(target).unwrap();
    for fs in [Target::Boot, Target::Root] {
        assert_eq!(
            imager::listing::listing(&mut a, fs).unwrap(),
            imager::listing::listing(&mut b, fs).unwrap(),
            "{}: {fs:?} differs from {}",
            target.display(),
            image.display()
        );
    }
}

fn run(cache: &Path, args: &[&str]) -> common::Run {
    piimage_with(cache, args, &[])
}

fn results(stdout: &str) -> Vec<serde_json::Value> {
    serde_json::from_str::<Vec<serde_json::Value>>(stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[test]
fn one_image_onto_several_random_filled_files() {
    let image = Fixture::new("bookworm").sized(256, 24).build();
    let dir = tempfile::tempdir().unwrap();
    let len = std::fs::metadata(&image).unwrap().len();
    let cards: Vec<PathBuf> = (1..=2)
        .map(|i| dir.path().join(format!("card{i}.img")))
        .collect();
    for card in &cards {
        fixtures::random_file(card, len + (64 << 20)); // a card is larger than the image
    }
    let cache = dir.path().join("cache");
    let mut args = vec!["flash", image.to_str().unwrap()];
    args.extend(cards.iter().map(|c| c.to_str().unwrap()));
    args.extend(["--yes", "--json"]);
    let out = run(&cache, &args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let results = results(&out.stdout);
    assert_eq!(results.len(), 2);
    for (card, result) in cards.iter().zip(&results) {
        assert_eq!(result["ok"], true, "{result}");
        assert_eq!(result["verified"], true, "{result}");
        let written = result["bytes_written"].as_u64().unwrap();
        assert!(
            written < len / 2,
            "wrote {written} of {len}: free blocks should be skipped"
        );
        assert_same_as(&image, card);
    }
    assert!(
        out.stderr.contains("regular file"),
        "targets are listed first:\n{}",
        out.stderr
    );
}

#[test]
fn a_compressed_image_is_flashed_like_a_raw_one() {
    let image = Fixture::new("hypriot").build();
    let dir = tempfile::tempdir().unwrap();
    let zst = dir.path().join("hypriot.img.zst");
    let status = Command::new("zstd")
        .args(["-q", "-3", "-o"])
        .arg(&zst)
        .arg(&image)
        .status()
        .unwrap();
    assert!(status.success());
    let card = dir.path().join("card.img");
    fixtures::random_file(&card, std::fs::metadata(&image).unwrap().len());
    let out = run(
        &dir.path().join("cache"),
        &[
            "flash",
            zst.to_str().unwrap(),
            card.to_str().unwrap(),
            "--yes",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("verified"), "{}", out.stdout);
    assert_same_as(&image, &card);
}

#[test]
fn without_a_terminal_and_without_yes_nothing_is_written() {
    let image = Fixture::new("bookworm").build();
    let dir = tempfile::tempdir().unwrap();
    let card = dir.path().join("card.img");
    std::fs::write(&card, b"old contents").unwrap();
    let out = run(
        &dir.path().join("cache"),
        &["flash", image.to_str().unwrap(), card.to_str().unwrap()],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("pass --yes"), "{}", out.stderr);
    assert_eq!(std::fs::read(&card).unwrap(), b"old contents");
}

#[test]
fn bad_requests_are_named_and_write_nothing() {
    let (dir, inventory) = stage_lab(&common::lab_text(), "bookworm");
    let cache = dir.path().join("cache");
    let inv = inventory.to_str().unwrap();
    let card = dir.path().join("card.img");
    let c = card.to_str().unwrap();
    for (args, expect) in [
        (
            vec![
                "flash", "-c", inv, "--node", "p1", "--node", "p2", c, "--yes",
            ],
            "2 node(s) but 1 device(s)",
        ),
        (
            vec!["flash", "-c", inv, "--all", c, "--yes"],
            "--all means 3 node(s) (p1, p2, p3) but 1 device(s)",
        ),
        (
            vec!["flash", "-c", inv, "--node", "p9", c, "--yes"],
            "no node `p9`",
        ),
        (
            vec![
                "flash", "-c", inv, "--node", "p1", "--node", "p2", c, c, "--yes",
            ],
            "is named twice",
        ),
        (
            vec!["flash", "/nonexistent.img", c, "--yes"],
            "/nonexistent.img",
        ),
    ] {
        let out = run(&cache, &args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(expect), "{args:?}: {}", out.stderr);
        assert!(!card.exists(), "{args:?} wrote something");
    }
}

#[test]
fn inventory_nodes_are_baked_when_missing_then_flashed_in_order() {
    let (dir, inventory) = stage_lab(&common::lab_text(), "bookworm");
    let cache = dir.path().join("cache");
    let cards: Vec<PathBuf> = ["a", "b"]
        .iter()
        .map(|n| dir.path().join(format!("{n}.img")))
        .collect();
    let out = run(
        &cache,
        &[
            "flash",
            "-c",
            inventory.to_str().unwrap(),
            "--node",
            "p2",
            "--node",
            "p1",
            cards[0].to_str().unwrap(),
            cards[1].to_str().unwrap(),
            "--yes",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("baked p1, p2") || out.stderr.contains("baked p2, p1"),
        "{}",
        out.stderr
    );
    let images = dir.path().join("images");
    assert_same_as(&images.join("p2.img"), &cards[0]);
    assert_same_as(&images.join("p1.img"), &cards[1]);
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(images.join("manifest.json")).unwrap())
            .unwrap();
    assert!(manifest["nodes"]["p1"]["used"]["bytes"].as_u64().unwrap() > 0);

    // Up to date now: a second flash bakes nothing.
    let again = run(
        &cache,
        &[
            "flash",
            "-c",
            inventory.to_str().unwrap(),
            "--node",
            "p1",
            cards[1].to_str().unwrap(),
            "--yes",
        ],
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(!again.stderr.contains("baked"), "{}", again.stderr);
}

/// A node's image edited after bake (here `piimage apply` adds a file and the result takes
/// the image's place): flash writes what the image's filesystems hold now, not the map bake
/// recorded, so the new file reaches the card.
#[test]
fn an_image_edited_after_bake_is_flashed_with_its_new_file() {
    let (dir, inventory) = stage_lab(&common::lab_text(), "bookworm");
    let cache = dir.path().join("cache");
    let inv = inventory.to_str().unwrap();
    let bake = run(&cache, &["bake", "-c", inv]);
    assert_eq!(bake.code, 0, "{}", bake.stderr);
    let image = dir.path().join("images/p1.img");
    // 12 MiB that no map of the baked image covers: bake's map would leave them out.
    let payload: String = (0..(12 << 20) / 64).map(|i| format!("{i:063}\n")).collect();
    let ops = dir.path().join("ops.yaml");
    std::fs::write(
        &ops,
        format!("- {{ op: write, fs: root, path: /opt/added-after-bake, content: {payload:?} }}\n"),
    )
    .unwrap();
    let edited = dir.path().join("edited.img");
    let apply = run(
        &cache,
        &[
            "apply",
            image.to_str().unwrap(),
            "--ops",
            ops.to_str().unwrap(),
            "-o",
            edited.to_str().unwrap(),
        ],
    );
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    std::fs::rename(&edited, &image).unwrap();
    let card = dir.path().join("card.img");
    fixtures::random_file(&card, std::fs::metadata(&image).unwrap().len());
    let out = run(
        &cache,
        &[
            "flash",
            "-c",
            inv,
            "--node",
            "p1",
            card.to_str().unwrap(),
            "--yes",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        !out.stderr.contains("baked"),
        "the image is up to date for bake: {}",
        out.stderr
    );
    assert_same_as(&image, &card);
    let mut on_card = Image::open(&card).unwrap();
    let listing = imager::listing::listing(&mut on_card, Target::Root).unwrap();
    assert!(
        format!("{listing:?}").contains("/opt/added-after-bake"),
        "the added file is on the card"
    );
}

fn require_root() {
    // SAFETY: geteuid cannot fail.
    assert_eq!(
        unsafe { libc_geteuid() },
        0,
        "loop-device tests need root (CI runs as root): run `sudo cargo test --test flash`"
    );
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

/// A loop device over `file`, detached on drop.
struct Loop(PathBuf);

impl Loop {
    fn attach(file: &Path) -> Loop {
        let out = Command::new("losetup")
            .args(["--find", "--show", "--direct-io=on"])
            .arg(file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "losetup: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Loop(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("-d").arg(&self.0).status();
    }
}

/// A tmpfs of `mib` MiB mounted on `dir`, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, mib: u64) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}M"), "piimage-test"])
            .arg(dir)
            .status()
            .unwrap();
        assert!(status.success());
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn loop_devices_one_failing_midway_while_the_others_finish() {
    require_root();
    let _serial = LOOPS.lock().unwrap_or_else(|e| e.into_inner());
    let image = Fixture::new("bookworm").sized(256, 96).build();
    let len = std::fs::metadata(&image).unwrap().len();
    let dir = tempfile::tempdir().unwrap();
    let good_file = dir.path().join("good.img");
    fixtures::random_file(&good_file, len);
    let good = Loop::attach(&good_file);
    // A loop device over a sparse file on a 48 MiB tmpfs: the image needs more, so writes
    // start failing part-way, as a dying card does.
    let small = Tmpfs::mount(&dir.path().join("small"), 48);
    let bad_file = small.0.join("bad.img");
    std::fs::File::create(&bad_file)
        .unwrap()
        .set_len(len)
        .unwrap();
    let bad = Loop::attach(&bad_file);
    let plain = dir.path().join("plain.img");

    let out = run(
        &dir.path().join("cache"),
        &[
            "flash",
            image.to_str().unwrap(),
            good.0.to_str().unwrap(),
            bad.0.to_str().unwrap(),
            plain.to_str().unwrap(),
            "--yes",
            "--json",
        ],
    );
    assert_eq!(out.code, 1, "one card failed, so exit 1:\n{}", out.stderr);
    let results = results(&out.stdout);
    assert_eq!(results[0]["ok"], true, "{}", results[0]);
    assert_eq!(results[2]["ok"], true, "{}", results[2]);
    assert_eq!(results[1]["ok"], false, "{}", results[1]);
    let error = results[1]["error"].as_str().unwrap();
    assert!(
        error.contains(bad.0.to_str().unwrap()) && error.contains("at byte"),
        "the error names the device and the offset: {error}"
    );
    assert!(results[0]["direct_io"] == true, "{}", results[0]);
    drop(good);
    assert_same_as(&image, &good_file);
    assert_same_as(&image, &plain);
}

#[test]
fn watch_mode_flashes_each_new_card_with_the_next_node() {
    require_root();
    let _serial = LOOPS.lock().unwrap_or_else(|e| e.into_inner());
    let (dir, inventory) = stage_lab(&common::lab_text(), "bookworm");
    let cache = dir.path().join("cache");
    let watch = Command::new(env!("CARGO_BIN_EXE_piimage"))
        .args([
            "flash",
            "-c",
            inventory.to_str().unwrap(),
            "--node",
            "p3",
            "--node",
            "p1",
            "--watch",
            "--yes",
        ])
        .env("PIIMAGE_CACHE_DIR", &cache)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Let it bake and take stock of the devices present, then insert two "cards".
    let images = dir.path().join("images");
    for _ in 0..600 {
        if images.join("manifest.json").exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::thread::sleep(std::time::Duration::from_secs(2));
    let len = std::fs::metadata(images.join("p3.img")).unwrap().len();
    let files: Vec<PathBuf> = ["first", "second"]
        .iter()
        .map(|n| dir.path().join(format!("{n}.img")))
        .collect();
    let mut loops = Vec::new();
    for file in &files {
        fixtures::random_file(file, len);
        loops.push(Loop::attach(file));
        std::thread::sleep(std::time::Duration::from_secs(3));
    }
    let out = watch.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("LABEL THIS CARD \"p3\""), "{stderr}");
    assert!(stderr.contains("LABEL THIS CARD \"p1\""), "{stderr}");
    drop(loops);
    assert_same_as(&images.join("p3.img"), &files[0]);
    assert_same_as(&images.join("p1.img"), &files[1]);
}
