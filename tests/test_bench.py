"""``python -m sparse.bench``: the engine table on a tiny problem (rows, not timings)."""

from __future__ import annotations

import re

from sparse import bench
from sparse.bench.engine import FLOOR
from sparse.neurons import engine


def test_engine_table_has_every_row_and_leaves_the_registry_alone(capsys):
    before = (dict(engine.BACKENDS), list(engine.AUTO_ORDER))
    bench.main(["engine", "--steps", "4", "--batch", "1", "--repeats", "1",
                "--backends", "reference,cpu"])
    out = capsys.readouterr().out
    rows = re.findall(r"^\| (\w+) \| ([\w-]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+)x \|$", out,
                      flags=re.M)
    got = {(wl, be) for wl, be, *_ in rows}
    assert got == {(wl, be) for wl in ("lif", "radlif", "encoder") for be in ("reference", "cpu")
                   } | {("encoder", FLOOR)}
    assert all(float(ratio) == 1.0 for wl, be, _, _, ratio in rows if be == "reference")
    assert all(float(t) > 0 for _, _, t, _, _ in rows)
    assert (dict(engine.BACKENDS), list(engine.AUTO_ORDER)) == before  # floor row unregistered
