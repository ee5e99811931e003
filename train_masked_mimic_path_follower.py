"""Train a masked-mimic path following agent; the same Hydra call as the user guide's direct command.

    python train_masked_mimic_path_follower.py [--experiment_name NAME] [--training_max_steps N] [--num_envs N]
        [--headless] [--motion_file PATH] [--expert_model_path PATH] [--simulator mujoco|mjwarp|isaaclab]
        [--checkpoint PATH] [hydra overrides ...]
"""

import sys

from protomotions.cli import train_main

if __name__ == "__main__":
    sys.exit(train_main("path following", "path_follower_training"))
