#!/usr/bin/env bash
# Bring a training resume point (transport parts + config.yaml) that was committed once and then taken
# out of the tree (the device tool carries 64 MiB in all) back into .resume/NAME for the next GPU call.
#   bash tools/restore_run.sh REV NAME        e.g.  bash tools/restore_run.sh 52a5955 tracker
set -euo pipefail
rev=$1; name=$2; src=runs/$name; dst=.resume/$name
files=$(git ls-tree --name-only "$rev" "$src/") || { echo "Error: no $src at $rev" >&2; exit 1; }
mkdir -p "$dst"
for f in $files; do
  case "$f" in *.pt|*/config.yaml) git show "$rev:$f" > "$dst/$(basename "$f")" ;; esac
done
[ -f "$dst/manifest.pt" ] || { echo "Error: $src at $rev has no manifest.pt" >&2; exit 1; }
ls -la "$dst"
