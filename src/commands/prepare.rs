//! The inventory loaded and its base resolved to a raw image (decompressed, or the built-in
//! base built on first use), then the library's preparation; its warnings go to stderr.

use std::path::Path;

use anyhow::Result;
use imager::inventory::{Base, Inventory};
use imager::prepare::{Prepared, Warning};
use imager::source::BaseCache;
use imager::Image;

pub fn prepare(cache: &BaseCache, config: &Path, names: &[String]) -> Result<Prepared> {
    let inventory = Inventory::load(config).map_err(imager::Error::from)?;
    // A misspelt --node is said before a base is decompressed or built.
    imager::prepare::selected(&inventory, names)?;
    let given = match &inventory.base {
        Base::Path(path) => path.clone(),
        Base::Builtin(name) => super::base::builtin_image(cache.dir(), name, config)?,
    };
    let base = super::resolve_base(cache, &given)?;
    // Opened once here only to name the file the user gave in errors about a cached copy.
    let image = Image::open(&base).map_err(|e| super::inspect::rename_path(e, &base, &given))?;
    let epoch = super::epoch_from_env(image.default_epoch())?;
    drop(image);
    let prepared = imager::prepare::prepare(inventory, names, &base, Some(epoch))?;
    for warning in &prepared.warnings {
        match warning {
            Warning::MadeSecret(path) => eprintln!(
                "made the cluster secret {} (keep it: the nodes' SSH host keys come from it)",
                path.display()
            ),
            Warning::Risk(text) => eprintln!("{text}"),
        }
    }
    Ok(prepared)
}
