#!/usr/bin/env bash
# Bring mujoco / mujoco_warp / warp / hydra to a fresh GPU machine of the `device` tool in chunks
# small enough to travel beside a working tree that already holds committed checkpoints (a call
# carries at most 64 MiB, tracked files included).
#
#   here, once:   bash ../shared/gpu/gpu_env.sh prepare .gpu && bash tools/gpu_chunks.sh split 18
#                 (writes .gpu/chunks/c00, c01, ...: ~18 MiB each; .gpu/ is git-ignored)
#                 Optional: .gpu/warp_cache.tar.xz (a tar of /tmp/warp_cache brought back from an earlier
#                 machine, ~10 MB) becomes chunk `cache` (add it like the others) and saves the ~4 min kernel compile.
#   device calls, each within the idle window of the last:
#                 bash tools/gpu_chunks.sh add            carry [".gpu/chunks/cNN"]     (once per chunk)
#                 bash tools/gpu_chunks.sh install        carry [".gpu/gpu_env.sh"]
#   afterwards    `source .gpu/gpu_env.sh install .gpu` (as tools/device_train.sh does) finds /tmp/site ready.
set -uo pipefail
cmd=${1:-}; drop=/tmp/gpu_chunks
case "$cmd" in
split)
  mb=${2:-18}
  rm -rf .gpu/chunks && mkdir -p .gpu/chunks
  # one stream: the wheels, then warp's two halves, as a tar (reassembled on the machine)
  tar cf - -C .gpu whl part1 part2 | split -b "${mb}M" -d -a 2 - .gpu/chunks/blob. || exit 1
  for f in .gpu/chunks/blob.*; do d=.gpu/chunks/c${f##*.}; mkdir -p "$d"; mv "$f" "$d/"; done
  [ -f .gpu/warp_cache.tar.xz ] && mkdir -p .gpu/chunks/cache && cp .gpu/warp_cache.tar.xz .gpu/chunks/cache/
  du -sh .gpu/chunks/c* ;;
add)
  mkdir -p "$drop" && cp .gpu/chunks/c*/* "$drop/" && ls "$drop" ;;
install)
  mkdir -p .gpu && cat "$drop"/blob.* | tar xf - -C .gpu || exit 1
  mkdir -p /tmp/gpu_env_stash && cp .gpu/part1/* /tmp/gpu_env_stash/
  [ -f "$drop/warp_cache.tar.xz" ] && tar xJf "$drop/warp_cache.tar.xz" -C /tmp && echo "warp kernel cache restored"
  source .gpu/gpu_env.sh install .gpu
  python3 -c "import mujoco_warp, warp, hydra; print('gpu env ready: warp', warp.__version__)" ;;
*)
  echo "usage: gpu_chunks.sh split [MB] | add | install" >&2; exit 2 ;;
esac
