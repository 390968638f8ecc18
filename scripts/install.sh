#!/usr/bin/env bash
# Installs what piimage and its tests need on Debian 12 (bookworm): the filesystem tools the
# fixtures are built with and the tests judge by, and compressors for base images. Safe to
# run again: it installs only what is missing. Needs root, or sudo.
set -euo pipefail

packages=(
  fdisk        # sfdisk: fixture partition tables, and the judge of ours
  dosfstools   # mkfs.vfat, fsck.fat
  mtools       # mcopy/mmd (fixtures), mtype (judge)
  e2fsprogs    # mke2fs -d, e2fsck, debugfs
  xz-utils gzip zstd zip unzip   # compressed bases as users download them
  openssl      # incompressible fixture payloads for benchmarks; judge of certificates and hashes
  openssh-client  # ssh-keygen: judge of the host keys bake makes
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  as_root=()
  [ "$(id -u)" -eq 0 ] || as_root=(sudo)
  echo "installing: ${missing[*]}" >&2
  "${as_root[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
fi
command -v cargo >/dev/null 2>&1 || {
  echo "install.sh: cargo (Rust stable) is not installed: see https://rustup.rs" >&2
  exit 1
}
