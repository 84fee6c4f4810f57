"""Benchmarks: ``python -m sparse.bench [engine|products|upstream|pac] ...``.

* ``engine`` (the default, :mod:`.engine`): forward + backward time and memory of the
  neuron back-ends on the benchmark workloads, as ratios to the reference loop;
* ``products`` (:mod:`.products`): event-driven against dense feed-forward products over
  input densities (where the ``cpu`` back-end switches to BLAS);
* ``upstream`` (:mod:`.upstream`): the paper encoder side by side with upstream SPARSE's
  code, given a checkout of it;
* ``pac`` (:mod:`.pac`): SPARSE's batch phase-amplitude-coupling significance test.

``python -m sparse.bench <command> --help`` lists each one's options.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> None:
    """Dispatch ``engine`` (default), ``products``, ``upstream`` or ``pac`` with the remaining
    arguments."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("pac", "products", "upstream"):
        import importlib

        importlib.import_module(f".{argv[0]}", __name__).main(argv[1:])
        return
    if argv and argv[0] == "engine":
        argv = argv[1:]
    from . import engine

    engine.run_engine(argv)
