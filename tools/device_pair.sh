#!/usr/bin/env bash
# Run several tools/device_train.sh jobs side by side on the one GPU of the `device` tool (together
# they keep it busier than one: 44 k vs 39.5 k env-steps/s measured for tracker + distillation).
#   bash tools/device_pair.sh "NAME1 WALL1 overrides..." "NAME2 WALL2 overrides..." [...]
# Each job's output lands in $OUT/NAME/ as device_train.sh writes it; the exit status is the worst.
# PAIR_STAGGER=S starts the jobs S seconds apart (their start-up shares the CPU).
set -uo pipefail
pids=()
for i in $(seq 1 $#); do
  [ "$i" -gt 1 ] && sleep "${PAIR_STAGGER:-0}"
  # shellcheck disable=SC2086
  bash tools/device_train.sh ${!i} > "/tmp/pair_$i.log" 2>&1 &
  pids+=($!)
done
worst=0
for i in "${!pids[@]}"; do
  wait "${pids[$i]}"; s=$?; [ "$s" -gt "$worst" ] && worst=$s
  echo "== job $((i + 1)) (rc $s) =="; tail -n 25 "/tmp/pair_$((i + 1)).log"
done
exit "$worst"
