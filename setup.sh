#!/usr/bin/env bash
# Sets up fusebench on a Debian/Ubuntu machine, as root: system packages, npm dependencies, build.
# Safe to run again: it installs only what is missing and reinstalls npm packages only when the lockfile changed.
set -euo pipefail
cd "$(dirname "$0")"

if [ "$(id -u)" != 0 ]; then
  echo "setup.sh: run as root: it installs packages, and fusebench mounts filesystems" >&2
  exit 1
fi

# erofs-utils: mkfs.erofs/fsck.erofs; libfuse2: loaded by fuse-native; fuse3: fusermount3 and /etc/fuse.conf;
# squashfs-tools + squashfuse: reference setups; fio: the standard read driver; attr: getfattr for walks;
# time: GNU time for the rusage of shell scenarios; chromium: report PNGs and report tests;
# build-essential + python3: node-gyp builds of the native addons; liburing-dev: the io_uring addon;
# liblz4-dev: the LZ4 prefix decoder addon.
# debootstrap: the real Debian root filesystem dataset (--dataset debian-minbase).
# patch: applies patches/ to npm dependencies (scripts/patch-dependencies.sh).
packages=(erofs-utils libfuse2 fuse3 squashfs-tools squashfuse fio attr time tar findutils util-linux kmod
  chromium build-essential python3 ca-certificates liburing-dev liblz4-dev debootstrap patch)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup.sh: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The filesystems the setups mount; built in on some kernels, modules on others.
for module in fuse erofs squashfs loop; do
  grep -qw "$module" /proc/filesystems 2>/dev/null || modprobe "$module" 2>/dev/null || true
done

# The reference daemons measured beside ours (erofsfuse, libfuse's passthrough_hp with passthrough
# and io_uring): the distribution's where packaged, else built once into /opt/fusebench/peers.
# A failed peer build is a warning; the setups it would serve are then skipped with a note.
scripts/build-peers.sh || echo "setup.sh: warning: scripts/build-peers.sh failed; erofsfuse/passthrough_hp setups unavailable" >&2

stamp=node_modules/.fusebench-lock-sha256
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_hash" ]; then
  echo "setup.sh: installing npm dependencies"
  npm ci --no-audit --no-fund
  echo "$lock_hash" >"$stamp"
fi

# npm ci applies patches/ and builds the patched packages; a machine installed before a patch
# changed gets it here (a no-op when it is applied and built).
npm run --silent patch-dependencies

# npm ci builds the native parts; a later change to their sources alone must rebuild them too.
native_stamp=build/.fusebench-native-sha256
native_hash=$(cat binding.gyp native/* | sha256sum | cut -d' ' -f1)
if [ ! -f "$native_stamp" ] || [ "$(cat "$native_stamp")" != "$native_hash" ]; then
  echo "setup.sh: building the native parts"
  npm run build:native --silent >/dev/null
  echo "$native_hash" >"$native_stamp"
fi

npm run build --silent
echo "setup.sh: ready (npx fusebench run, npx fusebench --help)"
