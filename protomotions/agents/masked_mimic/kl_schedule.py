"""Bookkeeping shared by the agents whose loss carries a scheduled KL term."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class KLScheduled:
    """Mixin for a PPOAgent subclass with ``config.vae.kld_schedule``: counts updates (checkpointed)
    and logs ``model/kld_coeff``. Set ``self.updates_done = 0`` in ``__init__``."""

    updates_done: int = 0

    @property
    def kld_coeff(self) -> float:
        return self.config.vae.kld_schedule.coeff(self.updates_done)

    def update(self) -> dict[str, float]:
        metrics = super().update()
        metrics["model/kld_coeff"] = self.kld_coeff
        self.updates_done += 1
        return metrics

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "updates_done": self.updates_done}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.updates_done = int(state.get("updates_done", 0))
