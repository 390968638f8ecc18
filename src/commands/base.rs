//! `piimage base build` and `piimage base list`: the built-in bases, and the lookup that
//! `base: builtin:NAME` in an inventory goes through (built on first use).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ::base::{self, build, Entry, Options, Recipe, Store};
use anyhow::{Context, Result};
use imager::source::BaseCache;

use crate::cli::{BaseBuildArgs, BaseCommand, BaseListArgs};
use crate::exit::BadInput;
use crate::render::bytes;

pub fn run(cache: &BaseCache, command: BaseCommand) -> Result<()> {
    match command {
        BaseCommand::Build(args) => run_build(cache, args),
        BaseCommand::List(args) => run_list(cache, args),
    }
}

fn recipe_for(suite: &str, arch: &str, variant: Option<&str>) -> Result<&'static Recipe> {
    let name = match variant {
        Some(v) => format!("debian-{suite}-{arch}-{v}"),
        None => format!("debian-{suite}-{arch}"),
    };
    Recipe::by_name(&name).map_err(|e| BadInput(e.to_string()).into())
}

fn epoch() -> Result<i64> {
    Ok(super::epoch_from_env(imager::Epoch(base::DEFAULT_EPOCH))?.0)
}

fn run_build(cache: &BaseCache, args: BaseBuildArgs) -> Result<()> {
    let recipe = recipe_for(&args.suite, &args.arch, args.variant.as_deref())?;
    let options = Options {
        epoch: epoch()?,
        mirror: args.mirror.clone(),
        security_mirror: None,
    };
    let (entry, reused) = ensure(cache.dir(), recipe, &options)?;
    if let Some(out) = &args.output {
        copy_image(&entry.image(), out)?;
    }
    if args.json {
        let mut value = serde_json::to_value(&entry.manifest)?;
        value["path"] = serde_json::Value::String(entry.image().display().to_string());
        value["reused"] = serde_json::Value::Bool(reused);
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    let m = &entry.manifest;
    println!(
        "{} builtin:{} ({} packages, key {})",
        if reused { "reused" } else { "built" },
        m.name,
        m.packages.len(),
        m.key
    );
    println!("  image      {}", entry.image().display());
    if let Some(out) = &args.output {
        println!("  copied to  {}", out.display());
    }
    println!(
        "  size       {} ({} of data)",
        bytes(m.image.size_bytes),
        bytes(m.image.data_bytes)
    );
    println!("  sha256     {}", m.image.sha256);
    println!(
        "  built in   {:.0} s bootstrap + {:.0} s assemble",
        m.timings.bootstrap_seconds, m.timings.assemble_seconds
    );
    Ok(())
}

fn run_list(cache: &BaseCache, args: BaseListArgs) -> Result<()> {
    let store = Store::new(cache.dir());
    let entries = store.list()?;
    let current: Vec<(String, String)> = base::recipe::RECIPES
        .iter()
        .map(|r| (r.name.to_string(), r.sha256()))
        .collect();
    let is_current = |e: &Entry| {
        current
            .iter()
            .any(|(n, h)| *n == e.manifest.name && *h == e.manifest.recipe_sha256)
    };
    if args.json {
        let list: Vec<serde_json::Value> = entries
            .iter()
            .map(|e| {
                serde_json::json!({
                    "name": e.manifest.name,
                    "key": e.manifest.key,
                    "current_recipe": is_current(e),
                    "source_date_epoch": e.manifest.source_date_epoch,
                    "packages": e.manifest.packages.len(),
                    "size_bytes": e.manifest.image.size_bytes,
                    "data_bytes": e.manifest.image.data_bytes,
                    "sha256": e.manifest.image.sha256,
                    "path": e.image(),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    if entries.is_empty() {
        println!(
            "no built base in {} (build one with `piimage base build`)",
            store.root().display()
        );
        return Ok(());
    }
    for e in &entries {
        let m = &e.manifest;
        println!(
            "builtin:{}  key {}  {}  {} packages  {} ({} data)  epoch {}\n  {}",
            m.name,
            m.key,
            if is_current(e) {
                "current recipe"
            } else {
                "older recipe"
            },
            m.packages.len(),
            bytes(m.image.size_bytes),
            bytes(m.image.data_bytes),
            m.source_date_epoch,
            e.image().display()
        );
    }
    Ok(())
}

/// The image behind `builtin:NAME` in an inventory: the newest build of the current recipe,
/// else built now (the mirror is asked only then).
pub fn builtin_image(cache_dir: &Path, name: &str, config: &Path) -> Result<PathBuf> {
    let recipe =
        Recipe::by_name(name).map_err(|e| BadInput(format!("{}: base: {e}", config.display())))?;
    let options = Options {
        epoch: epoch()?,
        ..Options::default()
    };
    let store = Store::new(cache_dir);
    if let Some(entry) = store.newest(recipe, options.epoch)? {
        tracing::debug!(key = %entry.manifest.key, "using the cached built-in base");
        return Ok(entry.image());
    }
    eprintln!(
        "builtin:{name} is not built yet: building it now (once; `piimage base build` does the same)"
    );
    Ok(ensure(cache_dir, recipe, &options)?.0.image())
}

/// The build for the mirror's current indexes, reused when cached. When the mirror cannot be
/// reached, the newest cached build of this recipe stands in, with a warning.
fn ensure(cache_dir: &Path, recipe: &Recipe, options: &Options) -> Result<(Entry, bool)> {
    let store = Store::new(cache_dir);
    let indexes = match build::index_digests(recipe, options) {
        Ok(indexes) => indexes,
        Err(err) => {
            if let Some(entry) = store.newest(recipe, options.epoch)? {
                eprintln!(
                    "warning: {err}; using the cached build {} (its package versions may be older)",
                    entry.manifest.key
                );
                return Ok((entry, true));
            }
            return Err(err.into());
        }
    };
    let key = base::store::key(recipe, options.epoch, &indexes);
    if let Some(entry) = store.get(recipe.name, &key)? {
        return Ok((entry, true));
    }
    build::check_prerequisites(cache_dir)?;
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let started = Instant::now();
    let mut step_started = Instant::now();
    let mut current = String::from("starting");
    let entry = build::build(
        &store,
        recipe,
        options,
        &indexes,
        &mut |event| match event {
            base::Event::Step(step) => {
                let finished = format!(
                    "  {current} ({:.0} s)",
                    step_started.elapsed().as_secs_f64()
                );
                // Without a terminal (CI logs) the spinner is hidden: one line per step instead.
                if bar.is_hidden() {
                    eprintln!("{finished}");
                } else {
                    bar.println(finished);
                }
                tracing::info!(step, "base build");
                current = step.to_string();
                step_started = Instant::now();
                bar.set_message(current.clone());
            }
            base::Event::Line(line) => {
                tracing::debug!(line, "base build");
            }
        },
    );
    bar.finish_and_clear();
    let entry = entry?;
    eprintln!(
        "built builtin:{} in {:.0} s",
        recipe.name,
        started.elapsed().as_secs_f64()
    );
    Ok((entry, false))
}

/// Sparse copy (a reflink where possible), fsync, rename: `-o FILE` never leaves a
/// half-written image.
fn copy_image(from: &Path, to: &Path) -> Result<()> {
    let src = std::fs::File::open(from).with_context(|| format!("reading {}", from.display()))?;
    let len = src.metadata()?.len();
    let dir = to
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .suffix(".partial")
        .tempfile_in(dir)
        .with_context(|| format!("writing into {}", dir.display()))?;
    imager::sparse::clone_or_copy(&src, tmp.as_file(), len)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    // A temp file is made 0600; an image is for everyone to read, as bake's are.
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )?;
    tmp.as_file().sync_all()?;
    tmp.persist(to)
        .with_context(|| format!("renaming to {}", to.display()))?;
    Ok(())
}
