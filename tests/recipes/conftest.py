"""Fixtures shared by the recipe tests."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml


@pytest.fixture
def plant_torn_checkpoint() -> Callable[[Path, str], tuple[Path, Path]]:
    """A function ``(save, name) -> (whole, torn)`` that fakes a kill during saving.

    ``save`` must hold one checkpoint folder, ``whole``; ``torn`` is a copy of it made the
    newest (recovery would pick it) whose ``<name>.ckpt`` is cut to half its length.
    """

    def plant(save: Path, name: str) -> tuple[Path, Path]:
        (whole,) = save.glob("CKPT+*")
        torn = whole.with_name("CKPT+2099-01-01+00-00-00+00")
        shutil.copytree(whole, torn)
        meta = yaml.safe_load((torn / "CKPT.yaml").read_text())
        meta["unixtime"] += 1e6
        (torn / "CKPT.yaml").write_text(yaml.safe_dump(meta))
        data = (torn / f"{name}.ckpt").read_bytes()
        (torn / f"{name}.ckpt").write_bytes(data[: len(data) // 2])
        return whole, torn

    return plant
