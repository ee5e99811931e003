#!/usr/bin/env bash
# Put a trained task-agent run where the user guide looks for it, with every file its model card quotes.
#
#   bash tools/ship_task_agent.sh steering|path_follower RUN_DIR [EXPERT_PACKAGE]
#
# RUN_DIR: a run folder (last.ckpt + config.yaml), e.g. results/steering_v5.
# EXPERT_PACKAGE: the expert package that run trained on (last.ckpt + config.yaml, from
#   `python -m protomotions.agents.masked_mimic.expert export`). Given, it replaces the shipped expert in
#   data/pretrained_models/masked_mimic/smpl/ (its MODEL_CARD.md stays: update it by hand). The other task's
#   shipped agent must then be shipped again on the same expert: an agent loads only its own expert.
#
# Writes data/pretrained_models/masked_mimic_<task>/: last.ckpt, config.yaml (expert path -> the shipped
# expert), metrics_{flat,complex}.json, metrics_expert_only_{flat,complex}.json,
# terrain_breakdown{,_expert_only}_complex.json and <task>_{flat,complex}.mp4 (200 episodes each, seed 1234;
# ~10 min on 2 CPU cores). Write the numbers into the model card by hand.
set -euo pipefail
task=${1:?steering or path_follower}; run=${2:?run folder}; expert=${3:-}
case "$task" in steering|path_follower) ;; *) echo "Error: task must be steering or path_follower, not '$task'" >&2; exit 2 ;; esac
for f in "$run/last.ckpt" "$run/config.yaml"; do [ -f "$f" ] || { echo "Error: $f not found" >&2; exit 1; }; done
size=$(stat -c %s "$run/last.ckpt")
[ "$size" -le 15000000 ] || { echo "Error: $run/last.ckpt is $size bytes; shipped checkpoints stay <= 15 MB" >&2; exit 1; }

shipped_expert=data/pretrained_models/masked_mimic/smpl
if [ -n "$expert" ]; then
  for f in "$expert/last.ckpt" "$expert/config.yaml"; do [ -f "$f" ] || { echo "Error: $f not found" >&2; exit 1; }; done
  cp "$expert/last.ckpt" "$expert/config.yaml" "$shipped_expert/"
  echo "expert: $expert -> $shipped_expert"
fi

out=data/pretrained_models/masked_mimic_$task
mkdir -p "$out"
cp "$run/last.ckpt" "$out/last.ckpt"
python - "$run/config.yaml" "$out/config.yaml" "$shipped_expert" <<'EOF'
import sys
from omegaconf import OmegaConf
cfg = OmegaConf.load(sys.argv[1])
cfg.agent.config.expert_model_path = sys.argv[3]
OmegaConf.save(cfg, sys.argv[2])
EOF

script=run_masked_mimic_$task.py
for terrain in flat complex; do
  python "$script" --checkpoint "$out/last.ckpt" --num_episodes 200 --seed 1234 --terrain "$terrain" \
    --metrics "$out/metrics_$terrain.json" --video "$out/${task}_$terrain.mp4"
  python "$script" --checkpoint "$out/last.ckpt" --num_episodes 200 --seed 1234 --terrain "$terrain" \
    --metrics "$out/metrics_expert_only_$terrain.json" --expert_only
done
python tools/terrain_breakdown.py --checkpoint "$out/last.ckpt" --num_episodes 200 --json "$out/terrain_breakdown_complex.json"
python tools/terrain_breakdown.py --checkpoint "$out/last.ckpt" --num_episodes 200 --expert_only \
  --json "$out/terrain_breakdown_expert_only_complex.json"
echo "shipped $run -> $out; now update $out/MODEL_CARD.md from the metrics files"
