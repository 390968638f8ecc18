//! `piimage inspect IMAGE [--json]`.

use anyhow::Result;
use imager::source::BaseCache;
use imager::Image;

use crate::cli::InspectArgs;

pub fn run(cache: &BaseCache, args: InspectArgs) -> Result<()> {
    let raw = super::resolve_base(cache, &args.image)?;
    let mut image = Image::open(&raw).map_err(|e| rename_path(e, &raw, &args.image))?;
    let report = imager::inspect::inspect(&mut image, &args.image.display().to_string())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", crate::render::inspect_report(&report));
    }
    Ok(())
}

/// Errors about a cached decompressed copy should name the file the user gave.
pub(super) fn rename_path(
    e: imager::Error,
    raw: &std::path::Path,
    given: &std::path::Path,
) -> imager::Error {
    match e {
        imager::Error::BadImage { path, reason } if path == raw => imager::Error::BadImage {
            path: given.to_owned(),
            reason,
        },
        other => other,
    }
}
