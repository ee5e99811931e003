"""MLP builder and the observation-dict → flat-vector input used by every network."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "tanh": nn.Tanh,
    "silu": nn.SiLU,
    "gelu": nn.GELU,
    "identity": nn.Identity,
}


def make_activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation '{name}'; choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def build_mlp(
    input_size: int,
    hidden_sizes: Sequence[int],
    output_size: int | None,
    activation: str = "relu",
    output_activation: str = "identity",
) -> nn.Sequential:
    """``(B, input_size)`` → ``(B, output_size)``; hidden layers each followed by ``activation``.

    ``output_size=None`` ends after the last hidden activation (a trunk; its width is
    ``hidden_sizes[-1]``).
    """
    layers: list[nn.Module] = []
    width = input_size
    for hidden in hidden_sizes:
        layers += [nn.Linear(width, int(hidden)), make_activation(activation)]
        width = int(hidden)
    if output_size is not None:
        layers += [nn.Linear(width, output_size), make_activation(output_activation)]
    return nn.Sequential(*layers)


def flatten_obs(obs: Mapping[str, torch.Tensor], keys: Sequence[str]) -> torch.Tensor:
    """Concatenate ``obs[k]`` ``(B, size_k)`` for k in ``keys`` order → ``(B, sum size_k)``."""
    missing = [k for k in keys if k not in obs]
    if missing:
        raise KeyError(f"observation group(s) {missing} are not in the obs dict; available: {sorted(obs)}")
    return torch.cat([obs[k] for k in keys], dim=-1)


class FlatObsInput(nn.Module):
    """Selects named obs groups, concatenates them in a fixed order and optionally normalises.

    ``forward(obs)``: dict name → ``(B, obs_spec[name])`` → ``(B, self.size)``.
    The sizes are checked against ``obs_spec`` so a layout change fails loudly instead of
    silently feeding the wrong columns.
    """

    def __init__(
        self, keys: Sequence[str], obs_spec: Mapping[str, int], normalizer: nn.Module | None = None
    ) -> None:
        super().__init__()
        if not keys:
            raise ValueError("FlatObsInput needs at least one observation group name")
        unknown = [k for k in keys if k not in obs_spec]
        if unknown:
            raise KeyError(
                f"observation group(s) {unknown} are not provided by the env; available: {sorted(obs_spec)}. "
                "Fix the *_obs_keys list in agent.config.model.config."
            )
        self.keys = list(keys)
        self.sizes = [int(obs_spec[k]) for k in self.keys]
        self.size = sum(self.sizes)
        self.normalizer = normalizer

    def forward(self, obs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        if self.normalizer is not None:
            obs = self.normalizer({k: obs[k] for k in self.keys})
        for key, size in zip(self.keys, self.sizes):
            if obs[key].shape[-1] != size:
                raise ValueError(
                    f"obs group '{key}' has width {obs[key].shape[-1]}, expected {size} (obs_spec)"
                )
        return flatten_obs(obs, self.keys)
