"""Probe the CUDA layer-norm defect behind issue #17 (used by tools/gpu_check.sh).

Prints the versions in use, then runs forward + backward of a layer norm over the auditory
nerve's ``(F', C) = (74, 16)`` maps with 100,000 rows twice: as the nerve does now (one
flattened dimension of 1184, :class:`sparse.encoders.frontend.FeatureMapLayerNorm`) and as
plain ``nn.LayerNorm([74, 16])``. PyTorch's CUDA backward takes a two-pass path for more than
65,536 rows and ``N / 32 < SMs / 2`` columns, which (up to torch 2.11) sizes its buffers from
the last normalised dimension: the plain form is expected to fail there with "invalid
gradient ... got [16] but expected shape compatible with [74, 16]".

Exit status: 0 when the flattened form gives gradients of the right shape and values (the
plain form's outcome is only reported; it runs last, as it may write out of bounds), 1 if not.
"""

from __future__ import annotations

import argparse
import sys

import torch

from sparse.encoders.frontend import FeatureMapLayerNorm

SHAPE = (74, 16)


def run(norm: torch.nn.Module, x: torch.Tensor, grad: torch.Tensor):
    """Weight and bias gradients of ``norm`` for input ``x`` and output gradient ``grad``."""
    norm.zero_grad(set_to_none=True)
    norm(x).backward(grad)
    if x.device.type == "cuda":
        torch.cuda.synchronize()
    return norm.weight.grad, norm.bias.grad


def main(argv: list[str] | None = None) -> int:
    """Run the probe; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, device {device}")
    try:
        import triton

        print(f"triton {triton.__version__}")
    except ImportError:
        print("triton not installed")
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        columns = SHAPE[0] * SHAPE[1]
        two_pass = args.rows > 64 * 1024 and columns // 32 < props.multi_processor_count // 2
        print(f"GPU {props.name}, {props.multi_processor_count} SMs; {args.rows} rows x "
              f"{columns} columns: two-pass gamma/beta backward path expected: {two_pass}")

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(args.rows, *SHAPE, generator=gen)
    grad = torch.randn(args.rows, *SHAPE, generator=gen)
    reference = torch.nn.LayerNorm(SHAPE).double()
    with torch.no_grad():
        reference.weight.uniform_(0.5, 1.5, generator=gen)
        reference.bias.uniform_(-0.5, 0.5, generator=gen)
    ref_w, ref_b = run(reference, x.double(), grad.double())

    flat = FeatureMapLayerNorm(SHAPE).to(device)
    flat.load_state_dict(reference.state_dict())
    got_w, got_b = run(flat, x.to(device), grad.to(device))
    ok = got_w.shape == ref_w.shape and got_b.shape == ref_b.shape
    if ok:
        errors = [float((g.double().cpu() - r).norm() / r.norm()) for g, r in
                  ((got_w, ref_w), (got_b, ref_b))]
        ok = max(errors) < 1e-4
        print(f"flattened (74*16) layer norm: gradients {tuple(got_w.shape)}, "
              f"relative error to float64 CPU {max(errors):.2e}: {'OK' if ok else 'WRONG'}")
    else:
        print(f"flattened layer norm: WRONG gradient shapes {tuple(got_w.shape)}")

    plain = torch.nn.LayerNorm(SHAPE).to(device)
    plain.load_state_dict(reference.state_dict())
    try:
        got_w, _ = run(plain, x.to(device), grad.to(device))
        print(f"plain nn.LayerNorm([74, 16]): gradients {tuple(got_w.shape)}: "
              "the defect does not show here")
    except RuntimeError as err:
        print(f"plain nn.LayerNorm([74, 16]): DEFECT REPRODUCED: {str(err).splitlines()[0]}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
