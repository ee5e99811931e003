"""Atomic checkpoint files that ``torch.load(path, weights_only=True)`` can read.

A checkpoint is a dict of tensors and plain containers:
    model, optimizer, normalizer   (agent.state_dict(); subclasses may add keys)
    epoch, global_step, best_score (runner progress)
    config                         (plain nested dict of the run's configuration)

Writes go to a hidden temp file in the same directory (``.<name>.tmp-<pid>``, never ``*.ckpt``),
are fsynced, then ``os.replace``d over the target and the directory is fsynced, so a crash
leaves either the old file or the new one, never a torn one.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

LAST_CHECKPOINT = "last.ckpt"
BEST_CHECKPOINT = "score_based.ckpt"
PROGRESS_KEYS = ("epoch", "global_step", "best_score", "config")
_PRIMITIVES = (bool, int, float, str, type(None), torch.Tensor, torch.Size, torch.dtype, torch.device)


def assert_weights_only_safe(obj: Any, where: str = "checkpoint") -> None:
    """Raise ``TypeError`` naming the path of the first value ``weights_only=True`` would reject."""
    if isinstance(obj, _PRIMITIVES):
        return
    if isinstance(obj, Mapping):
        for key, value in obj.items():
            if not isinstance(key, (str, int, float, bool)):
                raise TypeError(f"{where}: key {key!r} of type {type(key).__name__} is not checkpoint-safe")
            assert_weights_only_safe(value, f"{where}[{key!r}]")
        return
    if isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            assert_weights_only_safe(value, f"{where}[{i}]")
        return
    raise TypeError(
        f"{where} holds a {type(obj).__module__}.{type(obj).__name__}, which torch.load(weights_only=True) "
        "rejects; store tensors, numbers, strings and plain dicts/lists only (e.g. dataclasses.asdict or "
        "OmegaConf.to_container)"
    )


def temp_path_for(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def save_checkpoint(state: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Atomically write ``state`` to ``path``. Returns the path."""
    path = Path(path)
    assert_weights_only_safe(state)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(path)
    try:
        with open(tmp, "wb") as f:
            torch.save(dict(state), f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"checkpoint not found: {path} (checkpoint=PATH must name an existing .ckpt file)"
        )
    return torch.load(path, map_location=map_location, weights_only=True)


def make_checkpoint(
    agent_state: Mapping[str, Any],
    epoch: int,
    global_step: int,
    best_score: float,
    config: Mapping[str, Any] | None,
) -> dict[str, Any]:
    clash = sorted(set(agent_state) & set(PROGRESS_KEYS))
    if clash:
        raise KeyError(f"agent.state_dict() uses reserved checkpoint key(s) {clash}; rename them")
    return {
        **agent_state,
        "epoch": int(epoch),
        "global_step": int(global_step),
        "best_score": float(best_score),
        "config": dict(config or {}),
    }


def is_better(score: float, best: float) -> bool:
    """A strictly higher, finite score is a new best."""
    return math.isfinite(score) and score > best
