#!/usr/bin/env bash
# Builds a private copy of Parley to benchmark: the committed tree (HEAD) plus the working-tree
# versions of bench/ and of any files named on the command line, with its own build output and
# node_modules links into this checkout. Use it when the shared working tree has unfinished edits
# of other work in it, so that the numbers belong to a known state of the code:
#
#   bash bench/snapshot.sh /tmp/parley-bench-snap apps/server/src/realtime/gateway.ts
#   cd /tmp/parley-bench-snap && npm run bench
#
# The snapshot's node_modules links every installed package to this checkout's, except the
# workspace packages (@parley/*), which point into the snapshot.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${1:?usage: bench/snapshot.sh <dir> [file ...]}"
shift
case "$dest" in /|"$root"|"$root"/*) echo "refusing to write into $dest" >&2; exit 2 ;; esac
rm -rf "$dest"
mkdir -p "$dest"
git -C "$root" archive HEAD | tar -x -C "$dest"
(cd "$root" && tar -c bench "$@") | tar -x -C "$dest"
mkdir -p "$dest/node_modules/@parley"
for entry in "$root"/node_modules/* "$root"/node_modules/.bin; do
  name="$(basename "$entry")"
  [ "$name" = "@parley" ] && continue
  ln -s "$entry" "$dest/node_modules/$name"
done
for pkg in "$root"/node_modules/@parley/*; do
  target="$(readlink "$pkg")" # ../../packages/x or ../../apps/x
  ln -s "$target" "$dest/node_modules/@parley/$(basename "$pkg")"
done
(cd "$dest" && "$root/node_modules/.bin/tsc" -b apps/server)
echo "snapshot of $(git -C "$root" rev-parse --short HEAD) (+ bench/ $*) built in $dest"
