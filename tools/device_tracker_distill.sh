#!/usr/bin/env bash
# One GPU call that trains a tracker run and the expert distillation side by side (tools/device_pair.sh), with
# the distillation's teacher exported *on the machine* from the tracker's carried parts: the teacher (13 MB)
# then need not travel, which keeps a call with both resume points under the device tool's 64 MiB.
#
#   bash tools/device_tracker_distill.sh TRACKER EXPERT WALL [install] -- TRACKER_OVERRIDES...
#     carry [".gpu/gpu_env.sh", ".resume/TRACKER", ".resume/EXPERT"] (first call on a machine; later calls on
#     the same warm machine resume from its /tmp/results and need only .gpu/gpu_env.sh)
#   install: first unpack the chunks added earlier with `bash tools/gpu_chunks.sh add` (see tools/gpu_chunks.sh)
#
# e.g. bash tools/device_tracker_distill.sh tracker_rootxy masked_mimic_expert_v3 500 install -- \
#        +exp=full_body_tracker/mlp +robot=smpl +simulator=mjwarp num_envs=16384 agent.config.batch_size=16384 \
#        env.config.reward_weights.root_xy=0.2
# A new tracker run starts with `-- --init .resume/OLD_RUN +exp=...` (device_train.sh's --init).
# (Session 13 ran these steps as an uncommitted script of the same content; this form was not run on the machine.)
# The teacher is the tracker's state when the call starts (.resume/teacher, kept in /tmp/teacher_stash for
# the machine's later calls). $OUT gets both runs' parts, configs.tar (config.yaml + runner.log of each) and,
# with SAVE_WARP_CACHE=1, warp_cache.tar.xz.
set -uo pipefail
tracker=$1; expert=$2; wall=$3; shift 3
if [ "${1:-}" = install ]; then bash tools/gpu_chunks.sh install 2>&1 | tail -3; shift; fi
[ "${1:-}" = -- ] && shift
source .gpu/gpu_env.sh install .gpu >/dev/null
export PYTHONPATH=$PWD:${PYTHONPATH:-}
if [ ! -f .resume/teacher/last.ckpt ] && [ -f /tmp/teacher_stash/last.ckpt ]; then
  mkdir -p .resume && cp -r /tmp/teacher_stash .resume/teacher
fi
if [ ! -f .resume/teacher/last.ckpt ]; then
  mkdir -p /tmp/teacher_src \
    && python3 -m protomotions.agents.transport unpack ".resume/$tracker" /tmp/teacher_src/last.ckpt \
    && cp ".resume/$tracker/config.yaml" /tmp/teacher_src/ \
    && python3 -m protomotions.agents.masked_mimic.teacher export /tmp/teacher_src .resume/teacher | tail -1 \
    && cp -r .resume/teacher /tmp/teacher_stash || { echo "Error: no teacher: carry .resume/$tracker" >&2; exit 1; }
fi
PAIR_STAGGER=5 timeout $((wall + 60)) bash tools/device_pair.sh "$tracker $wall $*" \
  "$expert $wall +exp=masked_mimic/expert +robot=smpl +simulator=mjwarp num_envs=4096 agent.config.expert_model_path=.resume/teacher" \
  2>&1 | grep "runner\|Error\|error\|resuming\|new run\|rc " | tail -30
cd "$OUT" || exit 1
for n in "$tracker" "$expert"; do grep "\[runner\]" "$n/train.log" > "$n/runner.log"; rm -f "$n/train.log" "$n/events.tfevents"; done
tar cf configs.tar ./*/config.yaml ./*/runner.log && rm ./*/config.yaml ./*/runner.log
if [ "${SAVE_WARP_CACHE:-0}" = 1 ]; then tar cf - -C /tmp warp_cache | xz -1 -T8 > "$OUT/warp_cache.tar.xz"; fi
ls -la "$OUT"/*/
