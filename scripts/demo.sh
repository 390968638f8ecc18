#!/usr/bin/env bash
# The main job on the built-in default: build a Raspberry Pi OS bookworm-layout image from
# the fixture recipe, show it, apply one lab node's changes (fixtures/examples/node-p1.yaml)
# in user space, and show the result. Outputs land in target/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
out=target/demo
mkdir -p "$out"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}

cargo build --release --quiet
piimage=target/release/piimage
bash fixtures/build-image.sh bookworm "$out/base.img"
echo "== the base"
"$piimage" inspect "$out/base.img"
echo
echo "== node p1 (no root, no mount: edited in user space)"
"$piimage" apply "$out/base.img" --ops fixtures/examples/node-p1.yaml -o "$out/p1.img"
"$piimage" inspect "$out/p1.img"
