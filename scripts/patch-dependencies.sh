#!/usr/bin/env bash
# Applies fusebench's fixes of npm dependencies, patches/<package>+<version>.patch (diff -u of the
# package's published files), and builds each patched package from source with node-gyp: its
# build/Release is what node-gyp-build loads before the unpatched prebuilt binary the package ships.
# Run by the install script (`npm ci`, `npm install`) and by setup.sh, through npm (which puts
# node-gyp on PATH). A second run changes nothing; a patch that neither applies nor is already
# applied, or a package of another version, stops the install.
set -euo pipefail
shopt -s inherit_errexit nullglob
cd "$(dirname "$0")/.."

fail() {
  echo "patch-dependencies: $*" >&2
  exit 1
}

command -v node-gyp >/dev/null || fail "node-gyp is not on PATH: run this as 'npm run patch-dependencies'"

for patch_file in patches/*.patch; do
  name=$(basename "$patch_file" .patch)
  package=${name%+*}
  version=${name##*+}
  directory=node_modules/$package
  [ -f "$directory/package.json" ] || fail "$patch_file: $package is not installed (run npm ci)"
  installed=$(node -p 'require(process.argv[1]).version' "./$directory/package.json")
  [ "$installed" = "$version" ] || fail "$patch_file is for $package $version, but $installed is installed"

  apply=(patch --directory="$directory" --strip=1 --force --silent --no-backup-if-mismatch --reject-file=-)
  if "${apply[@]}" --reverse --dry-run <"$patch_file" >/dev/null 2>&1; then
    : # Applied by an earlier run.
  elif "${apply[@]}" --forward --dry-run <"$patch_file" >/dev/null 2>&1; then
    "${apply[@]}" --forward <"$patch_file"
    echo "patch-dependencies: applied $patch_file"
  else
    fail "$patch_file does not apply to $directory (is the package modified?)"
  fi

  # The build is stamped with the patch it was built from, so a changed patch is rebuilt too.
  stamp=$directory/build/.fusebench-patch-sha256
  patch_hash=$(sha256sum "$patch_file" | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$patch_hash" ]; then
    if ! log=$(cd "$directory" && node-gyp rebuild 2>&1); then
      echo "$log" >&2
      fail "building the patched $package failed (node-gyp rebuild in $directory)"
    fi
    echo "$patch_hash" >"$stamp"
    echo "patch-dependencies: built $package from patched source"
  fi
done
