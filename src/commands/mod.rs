//! One module per subcommand; each takes its parsed arguments and does the work.

mod apply;
pub(crate) mod bake;
mod base;
mod doctor;
mod flash;
mod flash_watch;
mod inspect;
mod plan;
mod prepare;
mod test;

use std::path::{Path, PathBuf};

use anyhow::Result;
use imager::source::BaseCache;

use crate::cli::{Cli, Command};

pub fn run(cli: Cli) -> Result<()> {
    let cache = BaseCache::new(cli.cache_dir.clone().unwrap_or_else(default_cache_dir));
    match cli.command {
        Command::Inspect(args) => inspect::run(&cache, args),
        Command::Apply(args) => apply::run(&cache, args),
        Command::Plan(args) => plan::run(&cache, args),
        Command::Bake(args) => bake::run(&cache, args),
        Command::Base(command) => base::run(&cache, command),
        Command::Flash(args) => flash::run(&cache, args),
        Command::Doctor(args) => doctor::run(&cache, args),
        Command::Test(args) => test::run(&cache, args),
    }
}

fn default_cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("piimage")
}

/// The raw image behind `input`, decompressing it (with a progress bar) on first use.
fn resolve_base(cache: &BaseCache, input: &Path) -> Result<PathBuf> {
    let bar = indicatif::ProgressBar::hidden();
    let mut started = false;
    let raw = cache.resolve(input, &mut |done, total| {
        if !started {
            started = true;
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            bar.set_length(total);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "decompressing {msg} {wide_bar} {bytes}/{total_bytes} {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar.set_message(input.display().to_string());
        }
        bar.set_position(done);
    })?;
    bar.finish_and_clear();
    if raw != input {
        tracing::debug!(raw = %raw.display(), "using cached decompressed base");
    }
    Ok(raw)
}

/// `SOURCE_DATE_EPOCH` if set (an error if it is not a number), else `fallback`.
fn epoch_from_env(fallback: imager::Epoch) -> Result<imager::Epoch> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(text) => imager::Epoch::parse(&text).ok_or_else(|| {
            crate::exit::BadInput(format!(
                "SOURCE_DATE_EPOCH={text:?} is not a whole number of seconds"
            ))
            .into()
        }),
        Err(_) => Ok(fallback),
    }
}
