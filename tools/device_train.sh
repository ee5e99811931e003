#!/usr/bin/env bash
# Run (or resume) one training on the GPU machine of the `device` tool and bring back a
# checkpoint small enough to commit.
#
#   bash tools/device_train.sh NAME WALL_SECONDS +exp=... [hydra overrides...]
#
# - installs mujoco / mujoco_warp / warp / hydra from .gpu (see ../shared/gpu/gpu_env.sh);
# - resumes from .resume/NAME/ (transport parts + config.yaml, as written below) when present;
# - trains with runner.max_wall_seconds=WALL_SECONDS, then packs last.ckpt (without Adam's
#   moments) into $OUT/NAME/ with config.yaml, the TensorBoard events and the log.
# Locally: python -m protomotions.agents.transport unpack DIR results/NAME/last.ckpt to continue.
set -uo pipefail
name=$1; wall=$2; shift 2
source .gpu/gpu_env.sh install .gpu
export PYTHONPATH=$PWD:${PYTHONPATH:-} PYTHONUNBUFFERED=1
save=/tmp/results/$name
mkdir -p "$save" "$OUT/$name"
if [ -f ".resume/$name/manifest.pt" ]; then
  python3 -m protomotions.agents.transport unpack ".resume/$name" "$save/last.ckpt"
  cp ".resume/$name/config.yaml" "$save/config.yaml"
  echo "resuming from .resume/$name"
fi
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv,noheader
python3 protomotions/train_agent.py "$@" experiment_name="$name" save_dir="$save" \
  runner.max_wall_seconds="$wall" runner.progress_bar=false > "$OUT/$name/train.log" 2>&1
status=${PIPESTATUS[0]}
tail -n 40 "$OUT/$name/train.log"
if [ -f "$save/last.ckpt" ]; then
  python3 -m protomotions.agents.transport pack "$save/last.ckpt" "$OUT/$name" --drop-optimizer
  cp "$save/config.yaml" "$OUT/$name/config.yaml"
  events=$(ls -t "$save"/lightning_logs/version_*/events.* 2>/dev/null | head -1)
  [ -n "$events" ] && cp "$events" "$OUT/$name/events.tfevents"
fi
exit "$status"
