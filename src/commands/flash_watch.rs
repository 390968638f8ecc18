//! `piimage flash --watch`: lab mode. Waits for cards to appear (a reader's medium, or any
//! disk that gains one), checks each like any target, writes the next node onto it, and says
//! which label to write on the card. Stops when every node has its card.

use std::path::PathBuf;

use ::flash::{self, System};
use anyhow::Result;
use imager::source::BaseCache;

use super::flash::{ask, baked_nodes, report, write_all, Job, POLL};
use crate::cli::FlashArgs;
use crate::exit::BadInput;
use crate::render::bytes;

pub fn run(cache: &BaseCache, args: &FlashArgs) -> Result<()> {
    let config = args
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from("piimage.yaml"));
    if !args.paths.is_empty() {
        return Err(BadInput("--watch finds the cards itself: give no device".into()).into());
    }
    let nodes = baked_nodes(cache, &config, &args.nodes, args.images.as_deref())?;
    ask(
        args.yes,
        "Every card inserted from now on will be overwritten. Type yes to start: ",
        "not confirmed: standard input is not a terminal; pass --yes to overwrite every card inserted",
    )?;
    let system = System::default();
    // Devices that hold a medium now are not cards for us: only what appears later is.
    let mut present = flash::target::with_medium(&system);
    let mut outcomes = Vec::new();
    let mut next = 0;
    eprintln!(
        "waiting for a card for {} ({} of {}); Ctrl-C stops",
        nodes[0].0,
        1,
        nodes.len()
    );
    while next < nodes.len() {
        let now = flash::target::with_medium(&system);
        let arrived: Vec<String> = now.difference(&present).cloned().collect();
        for name in arrived {
            if next >= nodes.len() {
                break;
            }
            let (label, image, map) = &nodes[next];
            let path = PathBuf::from("/dev").join(&name);
            let target = match flash::inspect(&system, &path) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("ignoring {}: {e}", path.display());
                    continue;
                }
            };
            let refused = flash::refusals(&target, map.image_len, args.force);
            if !refused.is_empty() {
                eprintln!(
                    "ignoring {} ({}): {}",
                    path.display(),
                    target.model,
                    refused.join("; ")
                );
                continue;
            }
            eprintln!(
                "{}: {} {} -> node {label}",
                path.display(),
                target.model,
                target.size.map(bytes).unwrap_or_default()
            );
            let mut done = write_all(
                vec![Job {
                    label: label.clone(),
                    image: image.clone(),
                    map: map.clone(),
                    target,
                }],
                !args.no_verify,
            );
            let outcome = done.remove(0);
            match &outcome.result {
                Ok(_) => {
                    eprintln!(
                        "LABEL THIS CARD \"{label}\": {} is done, take it out",
                        path.display()
                    );
                    next += 1;
                }
                Err(e) => eprintln!(
                    "{}: FAILED ({e}); insert another card for {label}",
                    path.display()
                ),
            }
            outcomes.push(outcome);
            if let Some((following, _, _)) = nodes.get(next) {
                eprintln!(
                    "waiting for a card for {following} ({} of {})",
                    next + 1,
                    nodes.len()
                );
            }
        }
        present = now;
        std::thread::sleep(POLL);
    }
    report(&outcomes, args.json)
}
