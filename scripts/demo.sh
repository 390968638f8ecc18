#!/usr/bin/env bash
# The main job on the built-in default: build (or reuse) the built-in Debian arm64 base for
# Raspberry Pi (mmdebstrap, about 8 minutes the first time on 2 cores), bake the example lab
# (fixtures/inventories/lab.yaml: three nodes) from it into one image per node, show what node
# p1's image holds, and flash p1 onto a card-sized file as a card reader would get it.
# Outputs land in target/demo/; the base is cached in ~/.cache/piimage (PIIMAGE_CACHE_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
out=target/demo
mkdir -p "$out"
export PIIMAGE_CACHE_DIR=${PIIMAGE_CACHE_DIR:-$HOME/.cache/piimage}
as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo --preserve-env=PIIMAGE_CACHE_DIR,SOURCE_DATE_EPOCH)

cargo build --release --quiet
piimage=$PWD/target/release/piimage
echo "== the built-in base (builtin:debian-bookworm-arm64)"
"${as_root[@]}" "$piimage" base build
sed 's|^base: .*|base: builtin:debian-bookworm-arm64|' fixtures/inventories/lab.yaml >"$out/lab.yaml"
cp fixtures/inventories/start_pipes.sh fixtures/inventories/logo.png "$out/"
echo
echo "== plan for p1 (what bake will change)"
"$piimage" plan -c "$out/lab.yaml" --node p1
echo
echo "== bake (no root, no mount: edited in user space)"
"$piimage" bake -c "$out/lab.yaml" -o "$out/images"
echo
echo "== what p1's image holds"
"$piimage" inspect "$out/images/p1.img"
echo
echo "== flash p1 onto a file standing in for a card (only what the filesystems use, verified)"
rm -f "$out/p1-card.img"
"$piimage" flash -c "$out/lab.yaml" --images "$out/images" --node p1 "$out/p1-card.img" --yes
