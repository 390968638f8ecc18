//! piimage: bake reproducible per-node Raspberry Pi SD-card images, inspect them, flash them,
//! and test the cluster in QEMU. This file only wires the command line to the commands.

mod cli;
mod commands;
mod exit;
mod render;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    let filter = if cli.verbose {
        "piimage=debug,imager=debug"
    } else {
        "piimage=warn"
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PIIMAGE_LOG")
                .unwrap_or_else(|_| filter.into()),
        )
        .with_writer(std::io::stderr)
        .without_time()
        .init();
    exit::report(commands::run(cli))
}
