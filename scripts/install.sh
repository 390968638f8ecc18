#!/usr/bin/env bash
# Installs what piimage and its tests need on Debian 12 (bookworm): the filesystem tools the
# fixtures are built with and the tests judge by, compressors for base images, mmdebstrap and
# QEMU for the built-in base and for booting nodes. Safe to run again: it installs only what
# is missing. Needs root, or sudo.
set -euo pipefail

packages=(
  fdisk        # sfdisk: fixture partition tables, and the judge of ours
  dosfstools   # mkfs.vfat, fsck.fat
  mtools       # mcopy/mmd (fixtures), mtype (judge)
  e2fsprogs    # mke2fs -d, e2fsck, debugfs
  xz-utils gzip zstd zip unzip   # compressed bases as users download them
  openssl      # incompressible fixture payloads for benchmarks; judge of certificates and hashes
  openssh-client  # ssh-keygen: judge of the host keys bake makes
  mmdebstrap   # bootstraps the built-in base from Debian's arm64 packages
  bmap-tools   # bmaptool: the reference the flash benchmark compares against
)
# From bookworm-backports, to match the preinstalled qemu-utils 10.0 (plain bookworm's 7.2
# conflicts with it): arm64 emulation for the base's maintainer scripts and for booting nodes.
backports=(
  qemu-system-arm   # qemu-system-aarch64 -M virt: boots the images
  qemu-user-static  # runs arm64 maintainer scripts during the base's bootstrap
)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"; }
missing=() missing_bpo=()
for p in "${packages[@]}"; do installed "$p" || missing+=("$p"); done
for p in "${backports[@]}"; do installed "$p" || missing_bpo+=("$p"); done

as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo)

# bookworm-backports from the mirror and keyring the machine already uses.
bpo_list=/etc/apt/sources.list.d/bookworm-backports.sources
if [ ${#missing_bpo[@]} -gt 0 ] && ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  mirror=$(sed -n 's/^URIs:[[:space:]]*\(.*\/debian\/\?\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
  keyring=$(sed -n 's/^Signed-By:[[:space:]]*//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
  echo "adding bookworm-backports (${mirror:-http://deb.debian.org/debian})" >&2
  printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: %s\n' \
    "${mirror:-http://deb.debian.org/debian}" "${keyring:-/usr/share/keyrings/debian-archive-keyring.gpg}" \
    | "${as_root[@]}" tee "$bpo_list" >/dev/null
fi

if [ ${#missing[@]} -gt 0 ] || [ ${#missing_bpo[@]} -gt 0 ]; then
  echo "installing: ${missing[*]} ${missing_bpo[*]}" >&2
  "${as_root[@]}" apt-get update -qq
  export DEBIAN_FRONTEND=noninteractive
  [ ${#missing[@]} -eq 0 ] || "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ ${#missing_bpo[@]} -eq 0 ] || "${as_root[@]}" apt-get install -y -qq -t bookworm-backports --no-install-recommends "${missing_bpo[@]}" >/dev/null
fi

# arm64 programs run through qemu-user: binfmt_misc mounted, qemu-aarch64 registered with the
# F flag (the interpreter opened now, so it also works inside the base's chroot). Containers
# without systemd-binfmt need this done by hand.
binfmt=/proc/sys/fs/binfmt_misc
if [ "$(uname -m)" != aarch64 ]; then
  [ -e "$binfmt/status" ] || "${as_root[@]}" mount -t binfmt_misc binfmt_misc "$binfmt"
  if [ ! -e "$binfmt/qemu-aarch64" ]; then
    "${as_root[@]}" sh -c "cat /usr/lib/binfmt.d/qemu-aarch64.conf > $binfmt/register"
  fi
fi

if ! command -v cargo >/dev/null 2>&1; then
  [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
fi
command -v cargo >/dev/null 2>&1 || {
  echo "install.sh: cargo (Rust stable) is not installed: see https://rustup.rs" >&2
  exit 1
}
