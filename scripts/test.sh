#!/usr/bin/env bash
# The test suite: installs what the tests need (only what is missing, from
# scripts/requirements.txt), then formatting, lints, the proof that install.sh alone sets up
# a machine that has nothing (cached by content hash), and every test of the workspace.
# CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
cargo build --locked --quiet
as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo --preserve-env=PIIMAGE_CACHE_DIR)
"${as_root[@]}" bash scripts/check-fresh-machine.sh target/debug/piimage
cargo test --locked --workspace
