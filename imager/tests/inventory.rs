//! Inventories: the lab example loads with defaults merged as documented; each of the bad
//! inventories in fixtures/inventories/bad is refused with a message that names the file,
//! the line and column, and the node; the published JSON Schema matches the types.

use std::path::{Path, PathBuf};

use imager::inventory::{self, Inventory};

fn inventories() -> PathBuf {
    fixtures::recipe_dir().join("inventories")
}

/// Copies an inventory into a folder that also holds the `base.img` it names.
fn staged(source: &Path) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("base.img"), b"").unwrap();
    let path = dir.path().join(source.file_name().unwrap());
    std::fs::copy(source, &path).unwrap();
    for extra in ["start_pipes.sh", "logo.png"] {
        std::fs::copy(inventories().join(extra), dir.path().join(extra)).unwrap();
    }
    (dir, path)
}

#[test]
fn lab_inventory_merges_defaults_into_each_node() {
    let (_dir, path) = staged(&inventories().join("lab.yaml"));
    let inv = Inventory::load(&path).unwrap();
    let names: Vec<&str> = inv.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["p1", "p2", "p3"], "order as written");
    let json = serde_json::to_value(&inv.nodes).unwrap();
    insta::assert_json_snapshot!(json);
}

#[test]
fn every_bad_inventory_is_refused_with_its_place() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(inventories().join("bad"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 30, "the corpus keeps at least 30 cases");
    let mut report = String::new();
    for file in &files {
        let (dir, path) = staged(file);
        let err = Inventory::load(&path)
            .map(|_| ())
            .expect_err(&format!("{} should be refused", file.display()));
        assert!(
            err.place.is_some(),
            "{}: no line and column in: {err}",
            file.display()
        );
        let message = err
            .to_string()
            .replace(&format!("{}/", dir.path().display()), "");
        report.push_str(&message);
        report.push('\n');
    }
    insta::assert_snapshot!(report);
}

#[test]
fn published_schema_is_current() {
    let published = fixtures::recipe_dir().join("../docs/inventory.schema.json");
    let current = serde_json::to_string_pretty(&inventory::schema()).unwrap() + "\n";
    if std::env::var_os("PIIMAGE_UPDATE_SCHEMA").is_some() {
        std::fs::write(&published, &current).unwrap();
    }
    let on_disk = std::fs::read_to_string(&published).unwrap_or_default();
    assert!(on_disk == current, "docs/inventory.schema.json is stale: run PIIMAGE_UPDATE_SCHEMA=1 cargo test -p piimage-imager --test inventory");
}
