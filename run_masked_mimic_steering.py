"""Evaluate a trained masked-mimic steering agent: metrics table, metrics.json beside the checkpoint, optional MP4.

    python run_masked_mimic_steering.py --checkpoint results/masked_mimic_steering_training/score_based.ckpt \
        [--num_episodes 200] [--seed N] [--terrain flat|complex] [--video out.mp4]
"""

import sys

from protomotions.cli import eval_main

if __name__ == "__main__":
    sys.exit(eval_main("steering", "steering_training"))
