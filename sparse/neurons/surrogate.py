"""Heaviside spike function with surrogate gradients.

The forward pass is the strict step ``H(x) = 1 if x > 0 else 0`` applied to
``x = u - threshold``. The backward pass replaces the Dirac delta by a
pseudo-derivative chosen by name. Each pseudo-derivative is a pure function of
``x`` so that every back-end (reference loop, CPU, Triton) evaluates the same
formula.

``"boxcar"`` is the surrogate of both SPARSE and SpArch (Bittar & Garner, 2022):
height 1 on ``-0.5 < x <= 0.5`` and 0 elsewhere, no scale factor.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["FAST_SIGMOID_SLOPE", "SURROGATES", "SURROGATE_IDS", "spike", "surrogate_grad"]

#: Slope of the ``"fast_sigmoid"`` surrogate (every back-end's kernels use this value).
FAST_SIGMOID_SLOPE = 10.0


def boxcar_grad(x: Tensor) -> Tensor:
    """Box-car pseudo-derivative: 1 on ``(-0.5, 0.5]``, 0 elsewhere."""
    return ((x > -0.5) & (x <= 0.5)).to(x.dtype)


def fast_sigmoid_grad(x: Tensor, slope: float = FAST_SIGMOID_SLOPE) -> Tensor:
    """SuperSpike pseudo-derivative ``1 / (1 + slope |x|)^2`` (Zenke & Ganguli, 2018)."""
    return 1.0 / (1.0 + slope * x.abs()) ** 2


def triangle_grad(x: Tensor) -> Tensor:
    """Triangular pseudo-derivative ``max(0, 1 - |x|)`` (Bellec et al., 2018)."""
    return (1.0 - x.abs()).clamp(min=0.0)


SURROGATES: dict[str, Callable[[Tensor], Tensor]] = {
    "boxcar": boxcar_grad,
    "fast_sigmoid": fast_sigmoid_grad,
    "triangle": triangle_grad,
}

#: Numbering of the surrogates inside the compiled kernels (Numba and Triton), which take an int.
SURROGATE_IDS: dict[str, int] = {"boxcar": 0, "fast_sigmoid": 1, "triangle": 2}


def surrogate_grad(x: Tensor, name: str = "boxcar") -> Tensor:
    """Pseudo-derivative of the spike function at ``x = u - threshold``.

    Raises
    ------
    ValueError
        If ``name`` is not one of :data:`SURROGATES`.
    """
    try:
        fn = SURROGATES[name]
    except KeyError:
        raise ValueError(
            f"unknown surrogate {name!r}; choose one of {sorted(SURROGATES)}"
        ) from None
    return fn(x)


class _Spike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, name: str) -> Tensor:  # noqa: D102
        ctx.save_for_backward(x)
        ctx.name = name
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_out: Tensor) -> tuple[Tensor, None]:  # noqa: D102
        (x,) = ctx.saved_tensors
        return grad_out * surrogate_grad(x, ctx.name), None


def spike(x: Tensor, surrogate: str = "boxcar") -> Tensor:
    """Binary spikes ``H(x)`` (float 0/1, same shape as ``x``) with a surrogate gradient.

    Examples
    --------
    >>> x = torch.tensor([-0.6, -0.5, 0.0, 0.3, 0.5, 0.7], requires_grad=True)
    >>> s = spike(x)
    >>> s.tolist()
    [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    >>> s.sum().backward()
    >>> x.grad.tolist()
    [0.0, 0.0, 1.0, 1.0, 1.0, 0.0]
    """
    if surrogate not in SURROGATES:
        surrogate_grad(x, surrogate)  # raises the readable error
    return _Spike.apply(x, surrogate)
