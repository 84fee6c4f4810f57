"""Collection rules for the doctests of the package (``--doctest-modules`` over ``sparse/``)."""

import importlib.util

# The Triton modules import triton at module level by design (kernels only); the package
# itself imports them lazily and runs without Triton, so skip their doctests where it is absent.
collect_ignore = []
if importlib.util.find_spec("triton") is None:
    collect_ignore += [
        "sparse/neurons/backends/triton_kernels.py",
        "sparse/neurons/backends/triton_ops.py",
    ]
# Likewise the compiled CPU loops import Numba at module level; without it the eager loop runs.
if importlib.util.find_spec("numba") is None:
    collect_ignore += ["sparse/neurons/backends/cpu_kernels.py"]
