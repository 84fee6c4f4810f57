"""Per-epoch means of the values a recipe logs (firing rates in Hz, loss terms)."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch

__all__ = ["MeanMeter"]


class MeanMeter:
    """Running, weighted mean of named values over an epoch (e.g. each population's rate in Hz).

    A tensor value counts as its mean; non-finite values are skipped.

    Examples
    --------
    >>> meter = MeanMeter()
    >>> meter.update({"nerve": 10.0, "cortex1": 4.0}, weight=2)
    >>> meter.update({"nerve": 20.0, "cortex1": 1.0}, weight=1)
    >>> {k: round(v, 3) for k, v in meter.summary(prefix="rate_hz_").items()}
    {'rate_hz_nerve': 13.333, 'rate_hz_cortex1': 3.0}
    """

    def __init__(self) -> None:
        self._sums: dict[str, float] = {}
        self._weight: dict[str, float] = {}

    def update(self, values: Mapping[str, float | torch.Tensor], weight: float = 1.0) -> None:
        """Add one batch: name to value (a tensor counts as its mean), weighted by ``weight``."""
        for name, raw in values.items():
            value = float(raw.detach().mean()) if isinstance(raw, torch.Tensor) else float(raw)
            if math.isfinite(value):
                self._sums[name] = self._sums.get(name, 0.0) + weight * value
                self._weight[name] = self._weight.get(name, 0.0) + weight

    def summary(self, prefix: str = "") -> dict[str, float]:
        """Weighted mean of each name, keyed ``prefix + name``."""
        return {prefix + k: self._sums[k] / self._weight[k] for k in self._sums}

    def state_dict(self) -> dict[str, dict[str, float]]:
        """The running sums and weights (plain floats: a YAML checkpoint keeps them exactly).

        Examples
        --------
        >>> meter = MeanMeter()
        >>> meter.update({"a": 0.1}, weight=3)
        >>> again = MeanMeter()
        >>> again.load_state_dict(meter.state_dict())
        >>> again.summary() == meter.summary()
        True
        """
        return {"sums": dict(self._sums), "weights": dict(self._weight)}

    def load_state_dict(self, state: Mapping[str, Mapping[str, float]]) -> None:
        """Continue from :meth:`state_dict` (a resumed epoch goes on counting where it was)."""
        self._sums = {k: float(v) for k, v in state["sums"].items()}
        self._weight = {k: float(v) for k, v in state["weights"].items()}
