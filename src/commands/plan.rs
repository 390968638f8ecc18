//! `piimage plan [-c FILE] [--node N]… [--json]`: the file operations bake would apply to
//! each node, from the inventory and the base image, written nowhere.

use anyhow::Result;
use imager::inventory::{Base, Inventory, NodeSpec};
use imager::plan::{self, Facts};
use imager::source::BaseCache;
use imager::{FileOp, Image};

use crate::cli::PlanArgs;
use crate::exit::BadInput;

pub fn run(cache: &BaseCache, args: PlanArgs) -> Result<()> {
    let inventory = Inventory::load(&args.config).map_err(imager::Error::from)?;
    let nodes = selected(&inventory, &args.nodes, &args.config)?;
    let base = match &inventory.base {
        Base::Path(path) => path.clone(),
        Base::Builtin(name) => {
            return Err(BadInput(format!(
                "{}: base builtin:{name}: the built-in base is not available yet (it arrives with `piimage base build`); give an image path",
                args.config.display()
            ))
            .into())
        }
    };
    let raw = super::resolve_base(cache, &base)?;
    let mut image = Image::open(&raw).map_err(|e| super::inspect::rename_path(e, &raw, &base))?;
    let facts = Facts::read(&mut image)?;
    let epoch = super::epoch_from_env(image.default_epoch())?;
    let mut plans: Vec<(&NodeSpec, Vec<FileOp>)> = Vec::new();
    for node in nodes {
        let ops = plan::plan(&inventory.nodes, node, &facts, epoch).map_err(|e| {
            BadInput(format!(
                "{}: node {}: {e}",
                args.config.display(),
                node.name
            ))
        })?;
        plans.push((node, ops));
    }
    if args.json {
        let map: serde_json::Map<String, serde_json::Value> = plans
            .iter()
            .map(|(node, ops)| {
                (
                    node.name.clone(),
                    serde_json::to_value(ops).unwrap_or_default(),
                )
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&map)?);
    } else {
        let flavour = facts
            .flavour
            .as_ref()
            .map_or("unknown", |f| f.name.as_str());
        for (node, ops) in &plans {
            println!("{} ({} operations on {flavour})", node.name, ops.len());
            for op in ops {
                println!("  {}", crate::render::file_op(op));
            }
        }
    }
    Ok(())
}

/// The nodes named with --node (all when none), each checked to exist.
fn selected<'i>(
    inventory: &'i Inventory,
    names: &[String],
    config: &std::path::Path,
) -> Result<Vec<&'i NodeSpec>> {
    if names.is_empty() {
        return Ok(inventory.nodes.iter().collect());
    }
    names
        .iter()
        .map(|name| {
            inventory
                .nodes
                .iter()
                .find(|n| &n.name == name)
                .ok_or_else(|| {
                    let known: Vec<&str> =
                        inventory.nodes.iter().map(|n| n.name.as_str()).collect();
                    BadInput(format!(
                        "{}: no node `{name}` (nodes: {})",
                        config.display(),
                        known.join(", ")
                    ))
                    .into()
                })
        })
        .collect()
}
