#!/usr/bin/env bash
# The test suite: installs what the tests need (only what is missing, from
# scripts/requirements.txt), then formatting, lints, the proof that install.sh alone sets up
# a machine that has nothing (cached by content hash), and every test of the workspace.
# CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
# CI starts from a fresh clone every time: the compiled dependencies are kept between runs in
# the cache, keyed by what decides them (Cargo.lock and the toolchain, named by its cargo),
# so a run compiles only the workspace's own crates. The two most recently used keys stay.
if [ "${CI:-}" = true ] && [ -z "${CARGO_TARGET_DIR:-}" ]; then
  builds="${PIIMAGE_CACHE_DIR:-$HOME/.cache/piimage}/cargo-target"
  key=$({ cat Cargo.lock; cargo -vV; } | sha256sum | cut -c1-16)
  export CARGO_TARGET_DIR="$builds/$key"
  mkdir -p "$CARGO_TARGET_DIR" && touch "$CARGO_TARGET_DIR"
  ls -1dt "$builds"/*/ | tail -n +3 | xargs -r rm -rf
fi
cargo fmt --all -- --check
cargo clippy --locked --workspace --all-targets -- -D warnings
cargo build --locked --quiet
as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo --preserve-env=PIIMAGE_CACHE_DIR)
"${as_root[@]}" bash scripts/check-fresh-machine.sh "${CARGO_TARGET_DIR:-target}/debug/piimage"
cargo test --locked --workspace
