"""Builds the Lightning Fabric of a run from the top-level config keys.

Keys read: ``ngpu`` (devices per node), ``nodes``, ``save_dir`` (TensorBoard root) and, when
``+opt=wandb`` is composed, the ``wandb:`` section. Accelerator "cuda" when available, else
"cpu" (ngpu then counts CPU processes). DDP when world size > 1 (NCCL on GPU, gloo on CPU).
"""

from __future__ import annotations

import importlib.util
import socket
from collections.abc import Mapping
from typing import Any

import torch

WANDB_HOST = ("api.wandb.ai", 443)


def _get(cfg: Any, key: str, default: Any = None) -> Any:
    if isinstance(cfg, Mapping) or hasattr(cfg, "get"):
        return cfg.get(key, default)
    return getattr(cfg, key, default)


def has_network(address: tuple[str, int] = WANDB_HOST, timeout_s: float = 2.0) -> bool:
    try:
        with socket.create_connection(address, timeout=timeout_s):
            return True
    except OSError:
        return False


def build_wandb_logger(wandb_cfg: Mapping[str, Any], save_dir: str):
    """A Lightning WandbLogger; ``mode: auto`` means online when api.wandb.ai is reachable, else offline."""
    if importlib.util.find_spec("wandb") is None:
        raise ModuleNotFoundError(
            "+opt=wandb needs the optional 'wandb' package: pip install 'protomotions[wandb]' "
            "(or drop +opt=wandb from the command line)"
        )
    from lightning.pytorch.loggers import WandbLogger

    options = dict(wandb_cfg)
    mode = options.pop("mode", "auto")
    if mode == "auto":
        mode = "online" if has_network() else "offline"
    if mode not in ("online", "offline", "disabled"):
        raise ValueError(f"wandb.mode='{mode}'; choose auto, online, offline or disabled")
    return WandbLogger(save_dir=save_dir, mode=mode, **{k: v for k, v in options.items() if v is not None})


def build_fabric(cfg: Any, loggers: list | None = None):
    """``Fabric`` for ``cfg.ngpu`` devices × ``cfg.nodes`` nodes, logging to ``cfg.save_dir``.

    The caller runs ``fabric.launch()`` (it spawns the other local processes for DDP).
    """
    from lightning.fabric import Fabric
    from lightning.fabric.loggers import TensorBoardLogger
    from lightning.fabric.strategies import DDPStrategy

    devices = int(_get(cfg, "ngpu", 1))
    nodes = int(_get(cfg, "nodes", 1))
    if devices < 1 or nodes < 1:
        raise ValueError(f"ngpu={devices} and nodes={nodes} must both be >= 1")
    save_dir = str(_get(cfg, "save_dir"))
    if loggers is None:
        loggers = [TensorBoardLogger(root_dir=save_dir, name="lightning_logs")]
        wandb_cfg = _get(cfg, "wandb")
        if wandb_cfg is not None:
            loggers.append(build_wandb_logger(wandb_cfg, save_dir))
    accelerator = "cuda" if torch.cuda.is_available() else "cpu"
    if devices * nodes > 1:
        strategy = DDPStrategy(process_group_backend="nccl" if accelerator == "cuda" else "gloo")
    else:
        strategy = "auto"
    return Fabric(
        accelerator=accelerator, devices=devices, num_nodes=nodes, strategy=strategy, loggers=loggers
    )
