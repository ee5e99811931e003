#!/usr/bin/env bash
# Run two tools/device_train.sh jobs side by side on the one GPU of the `device` tool (together
# they keep it busier than one: 44 k vs 39.5 k env-steps/s measured for tracker + distillation).
#   bash tools/device_pair.sh "NAME1 WALL1 overrides..." "NAME2 WALL2 overrides..."
# Each job's output lands in $OUT/NAME/ as device_train.sh writes it; the exit status is the worse.
set -uo pipefail
# shellcheck disable=SC2086
bash tools/device_train.sh $1 > /tmp/pair_a.log 2>&1 &
a=$!
sleep "${PAIR_STAGGER:-0}"
# shellcheck disable=SC2086
bash tools/device_train.sh $2 > /tmp/pair_b.log 2>&1 &
b=$!
wait $a; sa=$?
wait $b; sb=$?
echo "== job 1 (rc $sa) =="; tail -n 25 /tmp/pair_a.log
echo "== job 2 (rc $sb) =="; tail -n 25 /tmp/pair_b.log
exit $(( sa > sb ? sa : sb ))
