#!/usr/bin/env bash
# Run (or resume) one training on the GPU machine of the `device` tool and bring back a
# checkpoint small enough to commit.
#
#   bash tools/device_train.sh NAME WALL_SECONDS [--init DIR] +exp=... [hydra overrides...]
#
# --init DIR (transport parts, e.g. .resume/steering_v3): a NEW run NAME that starts from those weights and
# counters with the settings given here (a fine-tune; a plain resume keeps the saved settings). Used only
# while NAME has no checkpoint of its own yet.
#
# On a fresh machine first bring the GPU packages with tools/gpu_chunks.sh (one call per chunk, then
# `install`), then call this script carrying [.gpu/gpu_env.sh] (it resumes from the committed
# runs/NAME, or from a carried .resume/NAME); each call within the
# machine's idle window (30 s) of the last. SAVE_WARP_CACHE=1 also brings back /tmp/warp_cache as
# $OUT/warp_cache.tar.xz (~10 MB) for the next fresh machine (see tools/gpu_chunks.sh).
#
# - installs mujoco / mujoco_warp / warp / hydra from .gpu (see ../shared/gpu/gpu_env.sh);
# - resumes from .resume/NAME/ (transport parts + config.yaml, as written below) when present;
# - trains with runner.max_wall_seconds=WALL_SECONDS (counted from the start of train_agent.py, the first
#   warp compile included, so WALL + ~40 s for the pack fits a call's limit), then packs last.ckpt (without Adam's
#   moments) into $OUT/NAME/ with config.yaml, the TensorBoard events and the log.
# Locally: python -m protomotions.agents.transport unpack DIR results/NAME/last.ckpt to continue.
set -uo pipefail
name=$1; wall=$2; shift 2
init=""
if [ "${1:-}" = "--init" ]; then init=$2; shift 2; fi
source .gpu/gpu_env.sh install .gpu
export PYTHONPATH=$PWD:${PYTHONPATH:-} PYTHONUNBUFFERED=1
save=/tmp/results/$name
mkdir -p "$save" "$OUT/$name"
# resume parts: carried in .resume/NAME, stashed earlier on this warm machine in /tmp/resume_stash/NAME,
# or the committed resume point runs/NAME (it travels with the tracked tree)
for src in ".resume/$name" "/tmp/resume_stash/$name" "runs/$name"; do
  if [ ! -f "$save/last.ckpt" ] && [ -f "$src/manifest.pt" ]; then
    python3 -m protomotions.agents.transport unpack "$src" "$save/last.ckpt"
    cp "$src/config.yaml" "$save/config.yaml"
    echo "resuming from $src"
  fi
done
if [ ! -f "$save/last.ckpt" ] && [ -n "$init" ]; then
  mkdir -p /tmp/init && python3 -m protomotions.agents.transport unpack "$init" "/tmp/init/$name.ckpt" || exit 1
  set -- "$@" "checkpoint=/tmp/init/$name.ckpt"
  echo "new run from the weights of $init"
fi
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv,noheader
python3 protomotions/train_agent.py "$@" experiment_name="$name" save_dir="$save" \
  runner.max_wall_seconds="$wall" runner.progress_bar=false > "$OUT/$name/train.log" 2>&1
status=${PIPESTATUS[0]}
tail -n 40 "$OUT/$name/train.log"
if [ -f "$save/last.ckpt" ]; then
  python3 -m protomotions.agents.transport pack "$save/last.ckpt" "$OUT/$name" --drop-optimizer
  cp "$save/config.yaml" "$OUT/$name/config.yaml"
  # PACK_BEST=1: also the best-scoring checkpoint (its own manifest and parts) in $OUT/NAME/best
  if [ "${PACK_BEST:-0}" = 1 ] && [ -f "$save/score_based.ckpt" ]; then
    python3 -m protomotions.agents.transport pack "$save/score_based.ckpt" "$OUT/$name/best" --drop-optimizer
  fi
  events=$(ls -t "$save"/lightning_logs/version_*/events.* 2>/dev/null | head -1)
  [ -n "$events" ] && cp "$events" "$OUT/$name/events.tfevents"
fi
if [ "${SAVE_WARP_CACHE:-0}" = 1 ] && [ -d "${WARP_CACHE_PATH:-/tmp/warp_cache}" ]; then
  tar cf - -C "$(dirname "$WARP_CACHE_PATH")" "$(basename "$WARP_CACHE_PATH")" | xz -1 -T8 > "$OUT/warp_cache.tar.xz"
fi
exit "$status"
