#!/usr/bin/env bash
# Installs everything piimage and its tests need on Debian 12 (bookworm), from the one list,
# scripts/requirements.txt: each package there that is not installed yet (bookworm-backports
# added to apt's sources when a row needs it), without Recommends, so that whatever we rely on
# has a row of its own; then registers qemu-user-static in binfmt_misc (the list's binfmt row).
# Safe to run again: it installs only what is missing. Needs root, or sudo.
#
#   install.sh [--system-only]    --system-only: skip the check for the Rust toolchain
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
list=$here/requirements.txt
system_only=0
[ "${1:-}" = --system-only ] && system_only=1

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"; }
# "package suite" for every row of the list.
rows=$(awk '!/^[[:space:]]*(#|$)/ { print $2, $3 }' "$list" | sort -u)
missing=() missing_bpo=()
while read -r package suite; do
  installed "$package" && continue
  case "$suite" in
    bookworm) missing+=("$package") ;;
    bookworm-backports) missing_bpo+=("$package") ;;
    *) echo "install.sh: $list: unknown suite $suite for $package" >&2; exit 2 ;;
  esac
done <<<"$rows"

as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo)

# bookworm-backports from the mirror and keyring the machine already uses.
bpo_list=/etc/apt/sources.list.d/bookworm-backports.sources
if [ ${#missing_bpo[@]} -gt 0 ] && ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  # deb822 sources (debian.sources) or the one-line sources.list, whichever the machine has.
  mirror=$(sed -n 's/^URIs:[[:space:]]*\(.*\/debian\/\?\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1 || true)
  [ -n "$mirror" ] || mirror=$(sed -n 's/^deb[[:space:]]\+\(http[^[:space:]]*\/debian\/\?\)[[:space:]]\+bookworm[[:space:]].*/\1/p' /etc/apt/sources.list 2>/dev/null | head -1 || true)
  keyring=$(sed -n 's/^Signed-By:[[:space:]]*//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1 || true)
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

# The list's binfmt rows: arm64 programs run through qemu-user, binfmt_misc mounted, the entry
# registered with the F flag (the interpreter opened now, so it also works inside a chroot).
# Containers without systemd-binfmt need this done by hand.
binfmt=/proc/sys/fs/binfmt_misc
for entry in $(awk '!/^[[:space:]]*#/ { n = split($1, p, ","); for (i = 1; i <= n; i++) if (p[i] ~ /^binfmt:/) print substr(p[i], 8) }' "$list"); do
  [ "$entry" = qemu-aarch64 ] && [ "$(uname -m)" = aarch64 ] && continue
  [ -e "$binfmt/status" ] || "${as_root[@]}" mount -t binfmt_misc binfmt_misc "$binfmt"
  if [ ! -e "$binfmt/$entry" ]; then
    "${as_root[@]}" sh -c "cat /usr/lib/binfmt.d/$entry.conf > $binfmt/register"
  fi
done

[ "$system_only" = 1 ] && exit 0
if ! command -v cargo >/dev/null 2>&1; then
  [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
fi
command -v cargo >/dev/null 2>&1 || {
  echo "install.sh: cargo (Rust stable) is not installed: see https://rustup.rs" >&2
  exit 1
}
