"""Split a checkpoint into parts small enough to travel (e.g. ≤ 15 MB files) and join them again.

    python -m protomotions.agents.transport pack results/tracker/last.ckpt OUT_DIR --max-mb 15 [--drop-optimizer]
    python -m protomotions.agents.transport unpack OUT_DIR results/tracker/last.ckpt

Parts are ordinary ``torch.save`` files of tensors and plain containers, so ``torch.load(...,
weights_only=True)`` reads each of them. ``--drop-optimizer`` leaves Adam's moments behind
(about two thirds of a PPO checkpoint); training resumes with a fresh optimiser.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch

from protomotions.agents.checkpoint import load_checkpoint, save_checkpoint

MANIFEST = "manifest.pt"


def _flatten(obj: Any, path: tuple = ()) -> tuple[list[tuple[list, torch.Tensor]], Any]:
    """Tensors out of a nested structure: [(path, tensor)], and the skeleton with None in their place."""
    if isinstance(obj, torch.Tensor):
        return [(list(path), obj)], None
    if isinstance(obj, dict):
        tensors, skeleton = [], {}
        for k, v in obj.items():
            t, skeleton[k] = _flatten(v, path + (k,))
            tensors += t
        return tensors, skeleton
    if isinstance(obj, (list, tuple)):
        tensors, skeleton = [], []
        for i, v in enumerate(obj):
            t, s = _flatten(v, path + (i,))
            tensors += t
            skeleton.append(s)
        return tensors, skeleton if isinstance(obj, list) else tuple(skeleton)
    return [], obj


def _assign(skeleton: Any, path: list, value: torch.Tensor) -> None:
    node = skeleton
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def pack(src: str | Path, out_dir: str | Path, max_mb: float = 15.0, drop_optimizer: bool = False) -> list[Path]:
    state = load_checkpoint(src)
    if drop_optimizer:
        state.pop("optimizer", None)
    tensors, skeleton = _flatten(state)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    limit = int(max_mb * 1024 * 1024) - 64 * 1024  # room for torch.save's own bookkeeping
    parts: list[list] = [[]]
    size = 0
    for path, t in tensors:
        nbytes = t.numel() * t.element_size()
        if nbytes > limit:
            raise ValueError(f"tensor {path} is {nbytes / 2**20:.1f} MB, more than --max-mb {max_mb}")
        if size + nbytes > limit and parts[-1]:
            parts.append([])
            size = 0
        parts[-1].append([path, t.contiguous().clone()])
        size += nbytes
    written = []
    for i, part in enumerate(parts):
        written.append(save_checkpoint({"tensors": part}, out / f"part{i:02d}.pt"))
    written.append(save_checkpoint({"skeleton": skeleton, "num_parts": len(parts)}, out / MANIFEST))
    return written


def unpack(in_dir: str | Path, dest: str | Path) -> Path:
    src = Path(in_dir)
    manifest = load_checkpoint(src / MANIFEST)
    skeleton = manifest["skeleton"]
    for i in range(int(manifest["num_parts"])):
        for path, t in load_checkpoint(src / f"part{i:02d}.pt")["tensors"]:
            _assign(skeleton, path, t)
    return save_checkpoint(skeleton, dest)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("pack")
    a.add_argument("src")
    a.add_argument("out_dir")
    a.add_argument("--max-mb", type=float, default=15.0)
    a.add_argument("--drop-optimizer", action="store_true")
    b = sub.add_parser("unpack")
    b.add_argument("in_dir")
    b.add_argument("dest")
    args = p.parse_args(argv)
    if args.cmd == "pack":
        for f in pack(args.src, args.out_dir, args.max_mb, args.drop_optimizer):
            print(f"{f} {f.stat().st_size / 2**20:.1f} MB")
    else:
        print(unpack(args.in_dir, args.dest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
