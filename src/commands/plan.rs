//! `piimage plan [-c FILE] [--node N]… [--json]`: the file operations bake would apply to
//! each node, from the inventory and the base image, written nowhere.

use anyhow::Result;
use imager::source::BaseCache;

use crate::cli::PlanArgs;

pub fn run(cache: &BaseCache, args: PlanArgs) -> Result<()> {
    let prepared = super::prepare::prepare(cache, &args.inventory.config, &args.inventory.nodes)?;
    if args.json {
        let map: serde_json::Map<String, serde_json::Value> = prepared
            .plans
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
        let flavour = prepared
            .facts
            .flavour
            .as_ref()
            .map_or("unknown", |f| f.name.as_str());
        for (node, ops) in &prepared.plans {
            println!("{} ({} operations on {flavour})", node.name, ops.len());
            if let Some(r) = prepared.packages.get(&node.name) {
                for line in crate::render::resolution(r) {
                    println!("  {line}");
                }
            }
            for op in ops {
                println!("  {}", crate::render::file_op(op));
            }
        }
    }
    Ok(())
}
