#!/usr/bin/env bash
# The main job on the built-in default: build a Raspberry Pi OS bookworm-layout base image
# from the fixture recipe, bake the example lab (fixtures/inventories/lab.yaml: three nodes)
# into one image per node, in user space, and show what node p1's image holds.
# Outputs land in target/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
out=target/demo
mkdir -p "$out"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}

cargo build --release --quiet
piimage=target/release/piimage
bash fixtures/build-image.sh bookworm "$out/base.img"
cp fixtures/inventories/lab.yaml fixtures/inventories/start_pipes.sh "$out/"
echo "== plan for p1 (what bake will change)"
"$piimage" plan -c "$out/lab.yaml" --node p1
echo
echo "== bake (no root, no mount: edited in user space)"
"$piimage" bake -c "$out/lab.yaml" -o "$out/images"
echo
echo "== what p1's image holds"
"$piimage" inspect "$out/images/p1.img"
