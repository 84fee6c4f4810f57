"""Benchmarks: ``python -m sparse.bench [engine|pac] ...``.

* ``engine`` (the default, :mod:`.engine`): forward + backward time and memory of the
  neuron back-ends on three workloads, as ratios to the reference loop;
* ``pac`` (:mod:`.pac`): SPARSE's batch phase-amplitude-coupling significance test.

``python -m sparse.bench <command> --help`` lists each one's options.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> None:
    """Dispatch ``engine`` (default) or ``pac`` with the remaining arguments."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "pac":
        from . import pac

        pac.main(argv[1:])
        return
    if argv and argv[0] == "engine":
        argv = argv[1:]
    from . import engine

    engine.run_engine(argv)
