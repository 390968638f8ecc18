//! `piimage bake [-c FILE] [--node N]… [-o DIR]`: one image per node, and a manifest.
//! Each node is the base plus its own delta; images are written to temporary files and
//! renamed when complete, the manifest last.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use imager::bake::{Baked, Event};
use imager::source::BaseCache;

use crate::cli::BakeArgs;

pub fn run(cache: &BaseCache, args: BakeArgs) -> Result<()> {
    let prepared = super::prepare::prepare(cache, &args.inventory.config, &args.inventory.nodes)?;
    let out = out_dir(&args.inventory.config, args.output.as_deref());
    let baked = bake(&prepared, &args.inventory.config, &out, args.sha256, false)?;
    let manifest = &baked.manifest;
    if args.json {
        println!("{}", serde_json::to_string_pretty(manifest)?);
    } else {
        for (node, _) in &prepared.plans {
            let Some(entry) = manifest.nodes.get(&node.name) else {
                continue;
            };
            println!(
                "{}  {}  {} changed",
                out.join(&entry.image).display(),
                entry.sha256.as_ref().unwrap_or(&entry.chunks_sha256),
                crate::render::bytes(entry.delta_bytes)
            );
        }
        println!("{}", out.join("known_hosts").display());
        println!("{}", baked.manifest_path.display());
    }
    Ok(())
}

/// Where bake writes: `-o DIR`, else `images/` beside the inventory.
pub fn out_dir(config: &Path, output: Option<&Path>) -> PathBuf {
    output
        .map(Path::to_path_buf)
        .unwrap_or_else(|| config.parent().unwrap_or(Path::new(".")).join("images"))
}

/// Bakes the prepared nodes into `out` with the library's engine, a progress bar on a
/// terminal. With `only_stale`, nodes already baked from the same inputs are skipped.
pub fn bake(
    prepared: &imager::prepare::Prepared,
    config: &Path,
    out: &Path,
    sha256: bool,
    only_stale: bool,
) -> Result<Baked> {
    let inventory_text =
        std::fs::read(config).with_context(|| format!("reading {}", config.display()))?;
    let inputs = imager::bake::Inputs {
        inventory_path: config,
        inventory_text: &inventory_text,
        cluster: &prepared.inventory.nodes,
        secret: &prepared.secret,
        base: &prepared.base,
        flavour: prepared.facts.flavour.as_ref().map(|f| f.id),
        epoch: prepared.epoch,
        plans: &prepared.plans,
        packages: &prepared.packages,
    };
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "baking {msg:<12} {wide_bar} {pos}/{len} nodes {elapsed}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let options = imager::bake::Options { sha256, only_stale };
    let baked = imager::bake::bake(&inputs, out, options, &mut |event| match event {
        Event::Start(n) => bar.set_length(n as u64),
        Event::Node(node) => bar.set_message(node.to_string()),
        Event::Baked { node, delta_bytes } => {
            tracing::info!(node, delta_bytes, "baked");
            bar.inc(1);
        }
    });
    bar.finish_and_clear();
    Ok(baked?)
}
