#!/usr/bin/env bash
# Gets the reference FUSE daemons fusebench measures beside its own: erofs-utils' erofsfuse (with
# the mkfs.erofs and fsck.erofs of the same release) and libfuse 3 with kernel passthrough and
# FUSE over io_uring (its example/passthrough_hp). Where the distribution packages erofsfuse it is
# installed from there; what it lacks is built from Debian unstable's source packages into a prefix
# of fusebench's own (PEERS/<package>-<version>, PEERS/<package> pointing at the current one),
# never over the system's files and without changing the machine's apt configuration.
# A second run does nothing; --refresh looks for newer source versions.
# A peer that cannot be had is a warning naming the reason; the script still exits 0.
set -euo pipefail
shopt -s inherit_errexit

peers=${FUSEBENCH_PEERS:-/opt/fusebench/peers}
refresh=0
for argument in "$@"; do
  case "$argument" in
    --refresh) refresh=1 ;;
    -h | --help)
      echo "usage: scripts/build-peers.sh [--refresh]   (prefix: \$FUSEBENCH_PEERS, default /opt/fusebench/peers)"
      exit 0
      ;;
    *)
      echo "build-peers: unknown argument '$argument' (usage: scripts/build-peers.sh [--refresh])" >&2
      exit 2
      ;;
  esac
done

say() { echo "build-peers: $*"; }
warn() { echo "build-peers: warning: $*" >&2; }
started=$SECONDS

# Build dependencies, all from the distribution itself. libfuse enables io_uring only when
# liburing and libnuma are found at configure time; erofs-utils' tarball needs autoreconf.
build_deps=(build-essential dpkg-dev pkg-config meson ninja-build autoconf automake libtool
  libfuse3-dev liblz4-dev liblzma-dev libzstd-dev libdeflate-dev uuid-dev zlib1g-dev liburing-dev libnuma-dev)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
candidate() { apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: //p' | grep -v '(none)' || true; }

# The current build of a peer: PEERS/<package> -> <package>-<version> with a .complete mark.
current_build() {
  local link="$peers/$1"
  [ -L "$link" ] && [ -f "$link/.complete" ] && cat "$link/VERSION"
}

# The Debian mirror this machine already uses (deb822 .sources or one-line sources.list), never a
# name of our own: the first URI listed for the release's own suite.
debian_mirror() {
  local codename
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  [ -n "$codename" ] || return 1
  local file
  for file in /etc/apt/sources.list.d/*.sources; do
    [ -f "$file" ] || continue
    awk -v suite="$codename" '
      BEGIN { RS = ""; FS = "\n" }
      {
        uris = ""; suites = ""; enabled = 1
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/) { uris = $i; sub(/^URIs:[ \t]*/, "", uris) }
          if ($i ~ /^Suites:/) { suites = " " $i " "; sub(/^ Suites:/, "", suites) }
          if ($i ~ /^Enabled:[ \t]*no/) enabled = 0
        }
        if (enabled && uris != "" && index(suites, " " suite " ")) { split(uris, u, /[ \t]+/); print u[1]; exit }
      }' "$file"
  done | head -n 1 | grep . && return 0
  sed -n -E "s/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+)[[:space:]]+$codename[[:space:]].*/\2/p" \
    /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -n 1 | grep .
}

# apt pointed at unstable's source suite through a private sources list, lists and cache:
# the machine's own apt configuration and state are left as they are.
private_apt=()
prepare_private_apt() {
  local mirror
  mirror=$(debian_mirror) || {
    warn "no Debian mirror found in /etc/apt/sources.list{,.d} for this release: cannot fetch unstable's sources"
    return 1
  }
  local apt_dir="$peers/.apt"
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/sources.list.d"
  echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror unstable main" \
    >"$apt_dir/sources.list"
  # apt downloads as _apt when it can; give it the private lists directory.
  id _apt >/dev/null 2>&1 && chown -R _apt "$apt_dir/lists" "$apt_dir/cache"
  private_apt=(-o "Dir::Etc::sourcelist=$apt_dir/sources.list" -o "Dir::Etc::sourceparts=$apt_dir/sources.list.d"
    -o "Dir::State::lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o "Dir::Etc::preferencesparts=$apt_dir/sources.list.d")
  say "source suite: unstable from $mirror (private apt lists in $apt_dir)"
  apt-get "${private_apt[@]}" -qq update || {
    warn "apt-get update of unstable's sources failed"
    return 1
  }
}

source_version() {
  apt-cache "${private_apt[@]}" showsrc "$1" 2>/dev/null | sed -n 's/^Version: //p' | sort -V | tail -n 1
}

# Downloads and unpacks a source package (Debian patches applied) into a fresh work directory.
fetch_source() {
  local package=$1 version=$2 work=$3
  rm -rf "$work"
  mkdir -p "$work"
  id _apt >/dev/null 2>&1 && chown _apt "$work"
  (cd "$work" && apt-get "${private_apt[@]}" -qq source "$package=$version" >/dev/null)
  find "$work" -mindepth 1 -maxdepth 1 -type d -name "$package-*" | head -n 1
}

# Marks a finished build complete and makes it the current one (the symlink is swapped atomically).
publish() {
  local package=$1 version=$2 prefix=$3
  echo "$version" >"$prefix/VERSION"
  touch "$prefix/.complete"
  ln -sfn "$(basename "$prefix")" "$peers/.$package.new"
  mv -T "$peers/.$package.new" "$peers/$package"
}

build_fuse3() {
  local version=$1 prefix="$peers/fuse3-$1" work="$peers/.build/fuse3-$1"
  local source
  source=$(fetch_source fuse3 "$version" "$work") || return 1
  rm -rf "$prefix"
  # -Dutils=false: fusermount3, mount.fuse3, udev rules and init scripts stay the system's.
  # The rpath lets the installed library and the copied example find each other without ld.so.conf.
  (
    cd "$source"
    LDFLAGS="-Wl,-rpath,$prefix/lib" meson setup build --prefix="$prefix" --libdir=lib --buildtype=release \
      -Dutils=false -Dexamples=true -Dtests=false
    meson compile -C build
    meson install -C build
    mkdir -p "$prefix/bin"
    install -m 0755 build/example/passthrough_hp "$prefix/bin/passthrough_hp"
    grep -E 'HAVE_URING|HAVE_LIBNUMA|ENABLE_IO_URING' build/config.h build/libfuse_config.h 2>/dev/null || true
  )
}

build_erofs_utils() {
  local version=$1 fuse_prefix=$2 prefix="$peers/erofs-utils-$1" work="$peers/.build/erofs-utils-$1"
  local source
  source=$(fetch_source erofs-utils "$version" "$work") || return 1
  rm -rf "$prefix"
  (
    cd "$source"
    [ -x configure ] || ./autogen.sh
    PKG_CONFIG_PATH="$fuse_prefix/lib/pkgconfig" LDFLAGS="-Wl,-rpath,$fuse_prefix/lib" \
      ./configure --prefix="$prefix" --enable-fuse --with-lz4 --enable-lzma --with-libdeflate --with-libzstd \
      --with-zlib
    make -j"$(nproc)"
    make install
  )
}

# Runs one build with its output in a log; a failure is a warning with the log's last lines.
attempt() {
  local what=$1 log=$2
  shift 2
  mkdir -p "$(dirname "$log")"
  local begun=$SECONDS
  # In the background, not as an `if` condition: there bash would ignore set -e inside the build.
  "$@" >"$log" 2>&1 &
  if wait "$!"; then
    say "$what built in $((SECONDS - begun)) s (log: $log)"
    return 0
  fi
  warn "$what failed to build: $(grep -v '^\s*$' "$log" | tail -n 1) (log: $log)"
  return 1
}

main() {
  mkdir -p "$peers"
  local fuse_version erofs_version
  fuse_version=$(current_build fuse3 || true)
  erofs_version=$(current_build erofs-utils || true)
  local distro_erofsfuse=0
  if installed erofsfuse || [ -n "$(candidate erofsfuse)" ]; then distro_erofsfuse=1; fi

  if [ "$refresh" = 0 ] && [ -n "$fuse_version" ] && { [ -n "$erofs_version" ] || [ "$distro_erofsfuse" = 1 ]; }; then
    say "up to date: fuse3 $fuse_version${erofs_version:+, erofs-utils $erofs_version} in $peers"
    return 0
  fi

  local missing=() package
  for package in "${build_deps[@]}"; do installed "$package" || missing+=("$package"); done
  if [ "$distro_erofsfuse" = 1 ] && ! installed erofsfuse; then missing+=(erofsfuse); fi
  if [ "${#missing[@]}" -gt 0 ]; then
    say "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || {
      warn "could not install build dependencies (${missing[*]}): peers not built"
      return 0
    }
  fi
  [ "$distro_erofsfuse" = 1 ] && say "erofsfuse: the distribution's package ($(candidate erofsfuse))"

  prepare_private_apt || return 0
  local want_fuse want_erofs
  want_fuse=$(source_version fuse3)
  want_erofs=$(source_version erofs-utils)

  if [ -z "$want_fuse" ]; then
    warn "unstable lists no fuse3 source: libfuse and passthrough_hp not built"
  elif [ "$want_fuse" = "$fuse_version" ]; then
    say "fuse3 $fuse_version already built"
  elif attempt "fuse3 $want_fuse (libfuse, passthrough_hp)" "$peers/.build/fuse3-$want_fuse.log" build_fuse3 "$want_fuse"; then
    publish fuse3 "$want_fuse" "$peers/fuse3-$want_fuse"
    fuse_version=$want_fuse
  fi

  if [ "$distro_erofsfuse" = 1 ]; then
    :
  elif [ -z "$want_erofs" ]; then
    warn "unstable lists no erofs-utils source: erofsfuse not built"
  elif [ -z "$fuse_version" ]; then
    warn "erofs-utils not built: it needs the libfuse built above (io_uring, passthrough), which failed"
  elif [ "$want_erofs" = "$erofs_version" ] && [ "$(readlink -f "$peers/erofs-utils/.fuse3")" = "$(readlink -f "$peers/fuse3")" ]; then
    say "erofs-utils $erofs_version already built"
  elif attempt "erofs-utils $want_erofs (erofsfuse, mkfs.erofs, fsck.erofs)" \
    "$peers/.build/erofs-utils-$want_erofs.log" build_erofs_utils "$want_erofs" "$peers/fuse3-$fuse_version"; then
    ln -sfn "$peers/fuse3-$fuse_version" "$peers/erofs-utils-$want_erofs/.fuse3"
    publish erofs-utils "$want_erofs" "$peers/erofs-utils-$want_erofs"
  fi
  rm -rf "$peers/.build"/*/ 2>/dev/null || true
  say "done in $((SECONDS - started)) s"
}

main
