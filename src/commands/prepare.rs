//! The inventory loaded and its base resolved to a raw image (decompressed, or the built-in
//! base built on first use), then the library's preparation; its warnings go to stderr.

use std::path::Path;

use anyhow::Result;
use imager::inventory::{Base, Inventory};
use imager::prepare::{Prepared, Warning};
use imager::source::BaseCache;

pub fn prepare(cache: &BaseCache, config: &Path, names: &[String]) -> Result<Prepared> {
    let inventory = Inventory::load(config).map_err(imager::Error::from)?;
    // A misspelt --node is said before a base is decompressed or built.
    imager::prepare::selected(&inventory, names)?;
    let given = match &inventory.base {
        Base::Path(path) => path.clone(),
        Base::Builtin(name) => super::base::builtin_image(cache.dir(), name, config)?,
    };
    let base = super::resolve_base(cache, &given)?;
    // SOURCE_DATE_EPOCH when set; else the library takes the base's own last write.
    let epoch = match std::env::var_os("SOURCE_DATE_EPOCH") {
        Some(_) => Some(super::epoch_from_env(imager::Epoch(0))?),
        None => None,
    };
    // Errors about a cached decompressed copy name the file the user gave.
    let packages = imager::packages::PackageCache::new(cache.dir().join("packages"));
    let prepared = imager::prepare::prepare(inventory, names, &base, epoch, &packages)
        .map_err(|e| super::inspect::rename_path(e, &base, &given))?;
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
