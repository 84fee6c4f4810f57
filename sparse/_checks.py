"""Argument checks shared by the modules: one readable ``ValueError`` per mistake."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def check_portion(name: str, value: float) -> float:
    """Return ``value`` if it is a fraction in ``[0, 1]``, else raise ``ValueError``."""
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")
    return float(value)


def check_positive(name: str, value: float) -> float:
    """Return ``value`` if it is ``> 0``, else raise ``ValueError``."""
    if not float(value) > 0.0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return float(value)


def check_range(name: str, lim: Sequence[float]) -> tuple[float, float]:
    """Return ``(lo, hi)`` if ``lim`` is a pair with ``lo <= hi``, else raise ``ValueError``."""
    if len(lim) != 2 or float(lim[0]) > float(lim[1]):
        raise ValueError(f"{name} must be a pair [min, max] with min <= max, got {list(lim)}")
    return float(lim[0]), float(lim[1])


def check_rank3(x: Tensor, who: str) -> None:
    """Raise ``ValueError`` unless ``x`` is ``(batch, time, features)``."""
    if x.dim() != 3:
        raise ValueError(
            f"{who} expects input of shape (batch, time, features), got {tuple(x.shape)}"
        )


def check_input(x: Tensor, who: str) -> None:
    """Raise unless ``x`` is a floating-point ``(batch, time, features)`` tensor without NaN.

    Integer and boolean tensors (spike counts, masks) would otherwise fail deep inside a
    matrix product with a dtype message, and NaN would silently give no spike at all.

    The NaN test is one pass over ``x`` per call (not per step), so it stays cheap next to
    the layers' work; on a CUDA tensor reading its answer waits for the device once per
    call, as SpeechBrain's own finite-loss check does once per batch. It is skipped while
    ``torch.compile`` traces, where a data-dependent branch would break the graph.

    Raises
    ------
    ValueError
        On another rank or on NaN.
    TypeError
        On a non-floating dtype.
    """
    check_rank3(x, who)
    if not x.is_floating_point():
        raise TypeError(f"{who} expects a floating-point tensor, got {x.dtype}; "
                        "convert it with .float()")
    if not torch.compiler.is_compiling() and bool(torch.isnan(x).any()):
        raise ValueError(f"{who} got NaN in its input of shape {tuple(x.shape)}")


def as_list(name: str, value, length: int) -> list:
    """Broadcast a scalar to ``length`` entries, or check a list has exactly ``length`` entries."""
    if isinstance(value, (list, tuple)):
        if len(value) != length:
            raise ValueError(
                f"{name} has {len(value)} entries but {length} are needed, one per layer"
            )
        return list(value)
    return [value] * length
