#!/usr/bin/env bash
# Proof from nothing: bootstraps a minimal Debian 12 amd64 root (mmdebstrap minbase), runs
# scripts/install.sh inside it, then, inside it, does real work with what it installed:
# `piimage doctor` must find everything, a foreign-architecture mmdebstrap must pass its own
# checks (arch-test and qemu-user), a fixture image must build (sfdisk, mkfs.vfat, mtools,
# mke2fs), bake and flash must run, and the judges (e2fsck, fsck.fat, qemu-img) must answer.
# A package missing from scripts/requirements.txt makes one of these fail.
#
# The result is cached by the hash of everything that decides it (the list, install.sh, this
# script, the doctor's code, the fixture recipe), so a second run with the same inputs costs
# nothing. binfmt_misc is the host kernel's: the chroot sees the host's registration, so the
# registration step itself is proven only on the host (install.sh's last step there).
#
#   check-fresh-machine.sh PIIMAGE_BINARY      (root; PIIMAGE_CACHE_DIR for the cache)
set -euo pipefail
cd "$(dirname "$0")/.."
piimage=$(realpath "${1:?usage: check-fresh-machine.sh PIIMAGE_BINARY}")
[ "$(id -u)" -eq 0 ] || { echo "check-fresh-machine.sh: needs root (mmdebstrap's root mode)" >&2; exit 2; }
cache=${PIIMAGE_CACHE_DIR:-$HOME/.cache/piimage}/fresh-machine
mkdir -p "$cache"

key=$(cat scripts/requirements.txt scripts/install.sh scripts/check-fresh-machine.sh \
  imager/host/src/*.rs src/commands/doctor.rs fixtures/build-image.sh fixtures/trees.sh |
  sha256sum | cut -c1-16)
if [ -e "$cache/passed-$key" ]; then
  echo "fresh-machine check: passed before with these inputs ($key; log $cache/passed-$key), not repeated"
  exit 0
fi

mirror=$(sed -n 's/^URIs:[[:space:]]*\(.*\/debian\/\?\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1 || true)
mirror=${mirror:-http://deb.debian.org/debian}
root=$(mktemp -d /var/tmp/piimage-fresh.XXXXXX)
log=$cache/run-$key.log
trap 'rm -rf "$root"' EXIT
started=$(date +%s)
echo "fresh-machine check: bootstrapping Debian 12 minbase (amd64) from $mirror, then install.sh inside it (log $log)"

# Run inside the fresh root, after install.sh: the work each package on the list is for.
cat >"$root.inside" <<'INSIDE'
set -euo pipefail
step() { printf '== %s\n' "$*"; }
cd /opt/piimage
step "install.sh on a machine that has nothing"
bash scripts/install.sh --system-only
step "piimage doctor"
piimage doctor
step "a foreign-architecture bootstrap passes mmdebstrap's own checks (arch-test, qemu-user)"
mmdebstrap --simulate --mode=root --arch=arm64 --variant=essential bookworm /dev/null "$MIRROR" >/tmp/simulate.log 2>&1 ||
  { tail -20 /tmp/simulate.log; exit 1; }
step "a fixture image (sfdisk, mkfs.vfat, mtools, mke2fs, openssl)"
bash fixtures/build-image.sh bookworm /tmp/base.img --fill-mib 1
step "bake, inspect and flash it"
mkdir -p /tmp/lab
cat >/tmp/lab/lab.yaml <<'YAML'
base: /tmp/base.img
defaults:
  network: { interface: eth0, prefix: 24, gateway: 10.0.0.254 }
nodes:
  p1: { address: 10.0.0.1 }
YAML
piimage bake -c /tmp/lab/lab.yaml -o /tmp/lab/images
piimage inspect /tmp/lab/images/p1.img | head -5
piimage flash /tmp/lab/images/p1.img /tmp/card.img --yes
step "the judges answer"
start=$(sfdisk -J /tmp/card.img | sed -n 's/.*"start": *\([0-9]*\).*/\1/p' | tail -1)
dd if=/tmp/card.img of=/tmp/root.ext4 bs=512 skip="$start" status=none
e2fsck -fn /tmp/root.ext4
boot=$(sfdisk -J /tmp/card.img | sed -n 's/.*"start": *\([0-9]*\).*/\1/p' | head -1)
dd if=/tmp/card.img of=/tmp/boot.fat bs=512 skip="$boot" count=1048576 status=none
fsck.fat -n /tmp/boot.fat
qemu-img create -q -f qcow2 -F raw -b /tmp/card.img /tmp/node.qcow2 && qemu-img check -q /tmp/node.qcow2
qemu-system-aarch64 -machine help | grep -q '^virt '
qemu-system-aarch64 -M virt -cpu help | grep -q cortex-a72
step "all of it worked on a machine that had nothing"
INSIDE

status=0
mmdebstrap --variant=minbase --mode=root --format=directory \
  --customize-hook="mkdir -p \"\$1/opt/piimage/scripts\" \"\$1/opt/piimage/fixtures\"" \
  --customize-hook="copy-in scripts/install.sh scripts/requirements.txt /opt/piimage/scripts" \
  --customize-hook="copy-in fixtures/build-image.sh fixtures/trees.sh /opt/piimage/fixtures" \
  --customize-hook="copy-in $piimage /usr/local/bin" \
  --customize-hook="copy-in $root.inside /opt/piimage" \
  --customize-hook="chroot \"\$1\" env MIRROR=$mirror bash /opt/piimage/$(basename "$root").inside" \
  --customize-hook='umount "$1/proc/sys/fs/binfmt_misc" 2>/dev/null || true' \
  bookworm "$root/tree" "deb $mirror bookworm main" >"$log" 2>&1 || status=$?
rm -f "$root.inside"
grep '^== ' "$log" | sed 's/^/  /'
if [ "$status" -ne 0 ]; then
  echo "fresh-machine check FAILED (exit $status) after $(($(date +%s) - started)) s; the log's last lines:" >&2
  tail -25 "$log" >&2
  exit 1
fi
mv "$log" "$cache/passed-$key"
echo "fresh-machine check: passed in $(($(date +%s) - started)) s"
