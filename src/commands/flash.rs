//! `piimage flash`: images onto cards. Resolves what goes where (baking stale nodes first),
//! checks every target before any byte is written, asks, then writes all targets at once, one
//! thread and one progress bar each, and reports each card's outcome.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use ::flash::Job;
use ::flash::{self, Outcome, Phase, Progress, System};
use anyhow::Result;
use imager::source::BaseCache;
use imager::usedmap::{used_map, UsedMap};
use serde_json::json;

use crate::cli::FlashArgs;
use crate::exit::{BadInput, SomeFailed};
use crate::render::bytes;

pub fn run(cache: &BaseCache, args: FlashArgs) -> Result<()> {
    if args.watch {
        return super::flash_watch::run(cache, &args);
    }
    let system = System::default();
    let jobs = resolve_jobs(cache, &args, &system)?;
    check_targets(&jobs, args.force)?;
    confirm(&jobs, args.yes)?;
    let outcomes = write_all(jobs, !args.no_verify);
    report(&outcomes, args.json)
}

/// The inventory's nodes selected by --node/--all, baked into the images folder if missing
/// or made from other inputs. Returns (node, image, used map) in order.
pub fn baked_nodes(
    cache: &BaseCache,
    config: &Path,
    names: &[String],
    images: Option<&Path>,
) -> Result<Vec<(String, PathBuf, UsedMap)>> {
    let prepared = super::prepare::prepare(cache, config, names)?;
    let out = super::bake::out_dir(config, images);
    let baked = super::bake::bake(&prepared, config, &out, false, true)?;
    if !baked.baked.is_empty() {
        eprintln!("baked {} into {}", baked.baked.join(", "), out.display());
    }
    let mut nodes = Vec::new();
    for (node, _) in &prepared.plans {
        let image = out.join(format!("{}.img", node.name));
        // The image may have been edited since bake recorded its map (`piimage apply`, a
        // copy): what is written comes from the filesystems as they are now, which costs
        // only their bitmaps and tables.
        let map = used_map(&image)?;
        nodes.push((node.name.clone(), image, map));
    }
    Ok(nodes)
}

fn resolve_jobs(cache: &BaseCache, args: &FlashArgs, system: &System) -> Result<Vec<Job>> {
    let inventory_mode = args.all || !args.nodes.is_empty();
    let (images, devices): (Vec<(String, PathBuf, UsedMap)>, &[PathBuf]) = if inventory_mode {
        let config = args
            .config
            .clone()
            .unwrap_or_else(|| PathBuf::from("piimage.yaml"));
        if args.paths.is_empty() {
            return Err(BadInput(
                "no device given: name one per node, in order (e.g. /dev/sdb)".into(),
            )
            .into());
        }
        if !args.all && args.nodes.len() != args.paths.len() {
            return Err(BadInput(format!(
                "{} node(s) but {} device(s): give one device per --node, in order",
                args.nodes.len(),
                args.paths.len()
            ))
            .into());
        }
        let nodes = baked_nodes(cache, &config, &args.nodes, args.images.as_deref())?;
        if nodes.len() != args.paths.len() {
            return Err(BadInput(format!(
                "{}: --all means {} node(s) ({}) but {} device(s) were given",
                config.display(),
                nodes.len(),
                nodes
                    .iter()
                    .map(|n| n.0.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                args.paths.len()
            ))
            .into());
        }
        (nodes, &args.paths[..])
    } else {
        let Some((image, devices)) = args.paths.split_first() else {
            return Err(BadInput(
                "give an image and at least one device (or -c FILE --node NAME DEVICE)".into(),
            )
            .into());
        };
        if devices.is_empty() {
            return Err(BadInput(format!(
                "{}: no device given to write it to",
                image.display()
            ))
            .into());
        }
        let raw = super::resolve_base(cache, image)?;
        let map = used_map(&raw).map_err(|e| super::inspect::rename_path(e, &raw, image))?;
        let label = image
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let images = devices
            .iter()
            .map(|_| (label.clone(), raw.clone(), map.clone()))
            .collect();
        (images, devices)
    };
    flash::pair(images, devices, system).map_err(|e| BadInput(e.to_string()).into())
}

/// Lists each target; refuses (exit 2, nothing written) if any must not be written.
pub fn check_targets(jobs: &[Job], force: bool) -> Result<()> {
    eprintln!("targets:");
    for job in jobs {
        let t = &job.target;
        eprintln!(
            "  {:<14} {:<10} {:>10}  {:<6} {}{}  <- {} ({} to write)",
            t.path.display(),
            t.name,
            t.size.map(bytes).unwrap_or_else(|| "file".into()),
            format!("{:?}", t.transport).to_lowercase(),
            t.model,
            if t.serial.is_empty() {
                String::new()
            } else {
                format!(" serial {}", t.serial)
            },
            job.label,
            bytes(job.bytes()),
        );
        // As bmaptool says what it skips: per partition, and on whose word.
        for part in &job.map.partitions {
            eprintln!(
                "    partition {} ({}, {}): writes {}, skips {} {}",
                part.number,
                part.filesystem,
                bytes(part.size),
                bytes(part.used),
                bytes(part.size.saturating_sub(part.used)),
                if part.filesystem == "unknown" {
                    "(not a filesystem piimage reads: written whole)"
                } else {
                    "its filesystem marks free"
                }
            );
        }
    }
    let refused = flash::refused(jobs, force);
    if refused.is_empty() {
        Ok(())
    } else {
        Err(BadInput(format!(
            "refusing to write, nothing was written:\n  {}",
            refused.join("\n  ")
        ))
        .into())
    }
}

/// Asks before destroying what the cards hold; without a terminal only --yes says yes.
pub fn confirm(jobs: &[Job], yes: bool) -> Result<()> {
    let targets: Vec<String> = jobs
        .iter()
        .map(|j| j.target.path.display().to_string())
        .collect();
    ask(
        yes,
        &format!(
            "Everything on {} will be lost. Type yes to write: ",
            targets.join(", ")
        ),
        "not confirmed: standard input is not a terminal, so nobody can answer; pass --yes to write",
    )
}

/// `question` at the terminal, going on only at "yes"; `no_terminal` is the refusal when
/// nobody can answer. --yes (`yes`) answers for the user.
pub fn ask(yes: bool, question: &str, no_terminal: &str) -> Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(BadInput(no_terminal.into()).into());
    }
    eprint!("{question}");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    if answer.trim() == "yes" {
        Ok(())
    } else {
        Err(BadInput("not confirmed: nothing was written".into()).into())
    }
}

/// Every job at once (the library's engine), one bar each plus a total on a terminal.
pub fn write_all(jobs: Vec<Job>, verify: bool) -> Vec<Outcome> {
    let bars = indicatif::MultiProgress::new();
    let style = indicatif::ProgressStyle::with_template(
        "{prefix:<22} {msg:<9} {wide_bar} {bytes:>10}/{total_bytes:<10} {binary_bytes_per_sec:>12}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    let grand: u64 = jobs
        .iter()
        .map(|j| j.bytes() * if verify { 2 } else { 1 })
        .sum();
    let total = (jobs.len() > 1).then(|| {
        let bar = bars.add(indicatif::ProgressBar::new(grand));
        bar.set_style(style.clone());
        bar.set_prefix("all cards");
        bar.set_message("");
        bar
    });
    let per_job: Vec<indicatif::ProgressBar> = jobs
        .iter()
        .map(|job| {
            let bar = match &total {
                Some(total) => bars.insert_before(total, indicatif::ProgressBar::new(0)),
                None => bars.add(indicatif::ProgressBar::new(0)),
            };
            bar.set_style(style.clone());
            bar.set_prefix(format!("{} {}", job.target.path.display(), job.label));
            bar
        })
        .collect();
    let phases = std::sync::Mutex::new(vec![None; jobs.len()]);
    let outcomes = flash::write_all(jobs, verify, &|progress| match progress {
        Progress::Step {
            job,
            phase,
            done,
            of,
        } => {
            let bar = &per_job[job];
            let mut phases = phases.lock().unwrap_or_else(|p| p.into_inner());
            if phases[job] != Some(phase) {
                phases[job] = Some(phase);
                bar.set_length(of);
                bar.set_position(0);
                bar.reset_eta();
                bar.set_message(match phase {
                    Phase::Writing => "writing",
                    Phase::Verifying => "verifying",
                });
            }
            if let Some(total) = &total {
                total.inc(done.saturating_sub(bar.position()));
            }
            bar.set_position(done);
        }
        Progress::Done { job, result } => match result {
            Ok(_) => per_job[job].finish_with_message("done"),
            Err(_) => per_job[job].abandon_with_message("FAILED"),
        },
    });
    if let Some(total) = &total {
        total.finish_and_clear();
    }
    outcomes
}

/// The table (or JSON) of outcomes; an error when any card failed.
pub fn report(outcomes: &[Outcome], as_json: bool) -> Result<()> {
    let failed = outcomes.iter().filter(|o| o.result.is_err()).count();
    if as_json {
        let list: Vec<_> = outcomes
            .iter()
            .map(|o| match &o.result {
                Ok(r) => json!({
                    "target": o.target, "label": o.label, "ok": true,
                    "bytes_written": r.bytes_written, "seconds": o.seconds,
                    "write_mb_per_s": r.bytes_written as f64 / 1e6 / r.write_seconds.max(1e-9),
                    "verified": r.verified, "direct_io": r.direct_io,
                }),
                Err(e) => json!({
                    "target": o.target, "label": o.label, "ok": false,
                    "seconds": o.seconds, "error": e.to_string(),
                }),
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else {
        println!(
            "{:<22} {:<12} {:>10} {:>8} {:>9}  result",
            "target", "label", "written", "time", "MB/s"
        );
        for o in outcomes {
            match &o.result {
                Ok(r) => println!(
                    "{:<22} {:<12} {:>10} {:>7.1}s {:>9.1}  {}",
                    o.target.display(),
                    o.label,
                    bytes(r.bytes_written),
                    o.seconds,
                    r.bytes_written as f64 / 1e6 / r.write_seconds.max(1e-9),
                    if r.verified {
                        "verified"
                    } else {
                        "written, not verified"
                    }
                ),
                Err(e) => println!(
                    "{:<22} {:<12} {:>10} {:>7.1}s {:>9}  FAILED: {e}",
                    o.target.display(),
                    o.label,
                    "-",
                    o.seconds,
                    "-"
                ),
            }
        }
    }
    if failed > 0 {
        return Err(SomeFailed(format!(
            "{failed} of {} card(s) failed; the others are written",
            outcomes.len()
        ))
        .into());
    }
    Ok(())
}

/// How long lab mode waits between looks at the readers.
pub const POLL: Duration = Duration::from_millis(500);
