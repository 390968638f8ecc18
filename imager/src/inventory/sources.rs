//! What the inventory names on disk, read once it is checked: the base image must be an image
//! file, and each `files:` source is read, so the node's spec carries what gets written.
//! Errors keep the file, line and node of the setting that named the path.

use std::path::Path;

use super::locate::Locator;
use super::{Base, Inventory, InventoryError};

pub(super) fn read(inventory: &mut Inventory, text: &str) -> Result<(), InventoryError> {
    let at = Locator::new(text);
    let file = inventory.file.clone();
    let err = |place, node: Option<&str>, message: String| InventoryError {
        file: file.clone(),
        place,
        node: node.map(str::to_string),
        message,
    };
    if let Base::Path(path) = &inventory.base {
        if let Some(problem) = not_an_image(path) {
            return Err(err(at.top("base"), None, problem));
        }
    }
    let dir = file.parent().unwrap_or(Path::new(".")).to_path_buf();
    for node in &mut inventory.nodes {
        let own = at
            .node_key(&node.name, &["files"])
            .is_some_and(|p| Some(p) != at.node(&node.name));
        let place = if own {
            at.node_key(&node.name, &["files"])
        } else {
            at.defaults_key(&["files"]).or_else(|| at.node(&node.name))
        };
        for (i, f) in node.files.iter_mut().enumerate() {
            let Some(src) = &f.source else { continue };
            let p = dir.join(src);
            let file_err = |message: String| {
                err(
                    place,
                    Some(&node.name),
                    format!("files[{i}] ({}): {message}", f.path),
                )
            };
            if !p.is_file() {
                return Err(file_err(format!("source {} does not exist", p.display())));
            }
            let bytes =
                std::fs::read(&p).map_err(|e| file_err(format!("source {}: {e}", p.display())))?;
            f.source_bytes = Some(bytes);
        }
    }
    Ok(())
}

/// Why `path` cannot be a base image: missing, or a folder or device rather than a file.
fn not_an_image(path: &Path) -> Option<String> {
    use std::os::unix::fs::FileTypeExt;
    let shown = path.display();
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Some(format!("base image {shown} does not exist"))
        }
        Err(e) => Some(format!("base image {shown}: {e}")),
        Ok(m) if m.is_file() => None,
        Ok(m) => {
            let t = m.file_type();
            let what = if t.is_dir() {
                "a directory"
            } else if t.is_char_device() {
                "a character device (like /dev/zero)"
            } else if t.is_block_device() {
                "a block device (copy the card into an image file first)"
            } else if t.is_fifo() {
                "a named pipe"
            } else {
                "not a regular file"
            };
            Some(format!("base image {shown} is {what}, not an image file"))
        }
    }
}
