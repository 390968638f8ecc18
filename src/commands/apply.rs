//! `piimage apply BASE --ops FILE -o OUT`: the image engine's file operations, from a file.

use anyhow::{Context, Result};
use imager::source::BaseCache;
use imager::{FileOp, Image};

use crate::cli::ApplyArgs;
use crate::exit::BadInput;

pub fn run(cache: &BaseCache, args: ApplyArgs) -> Result<()> {
    // Read and check everything before any output exists.
    let text = std::fs::read_to_string(&args.ops)
        .map_err(|e| BadInput(format!("{}: {e}", args.ops.display())))?;
    let ops: Vec<FileOp> = imager::fileop::parse_ops(&text)
        .map_err(|e| BadInput(format!("{}: {e}", args.ops.display())))?;
    if ops.is_empty() {
        return Err(BadInput(format!("{}: lists no operations", args.ops.display())).into());
    }
    let raw = super::resolve_base(cache, &args.image)?;
    let mut image =
        Image::open(&raw).map_err(|e| super::inspect::rename_path(e, &raw, &args.image))?;
    let epoch = super::epoch_from_env(image.default_epoch())?;
    image.apply(&ops, epoch).with_context(|| {
        format!(
            "applying {} to {}",
            args.ops.display(),
            args.image.display()
        )
    })?;
    image.write_to(&args.output)?;
    let (delta, ranges) = image.delta();
    if args.json {
        let summary = serde_json::json!({
            "output": args.output.display().to_string(),
            "operations": ops.len(),
            "epoch": epoch.0,
            "delta_bytes": delta,
            "changed_ranges": ranges.iter().map(|(start, end)| serde_json::json!({ "start": start, "end": end })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "{}: {} operations applied, {} changed in {} ranges",
            args.output.display(),
            ops.len(),
            crate::render::bytes(delta),
            ranges.len()
        );
    }
    Ok(())
}
