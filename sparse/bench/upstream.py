"""The paper encoder side by side with upstream SPARSE: ``python -m sparse.bench upstream``.

Upstream's code (https://github.com/idiap/sparse, BSD-3-Clause) is not part of this
package; give the folder of a checkout with ``--upstream`` (the one that holds its
``sparse/encoder_asr.py``). Both encoders are built in the paper configuration (their
defaults, ``dt = 2`` ms), fed ``B x T x 80`` random features and timed forward + backward
(loss: output sum plus 1e-3 times every spike), each in a fresh Python process (both
packages are called ``sparse``) at the same thread count. The processes alternate, a
warm-up step then ``--steps-per-run`` timed steps each, so that a change of machine load
affects both sides alike; the medians over all timed steps are compared.

Examples
--------
``python -m sparse.bench upstream --upstream ~/src/idiap-sparse --threads 1``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]

# argv: side ("upstream", a back-end name, or "cpu-dense": the cpu back-end with dense
# feed-forward products), batch, steps, threads, timed steps.
_CHILD = r"""
import json, sys, time
import torch
side, batch, steps, threads, count = sys.argv[1], *map(int, sys.argv[2:])
torch.set_num_threads(threads)
torch.manual_seed(0)
if side == "upstream":
    import contextlib, io
    from sparse.encoder_asr import ASREncoder
    with contextlib.redirect_stdout(io.StringIO()):  # it prints its parameter counts
        model = ASREncoder(dt=2.0)
else:
    from sparse.encoders import ASREncoder
    from sparse.neurons.backends import spike_linear
    dense = side.endswith("-dense")  # the cpu back-end with dense feed-forward products
    spike_linear.EVENT_DRIVEN = not dense
    model = ASREncoder(dt=2.0, backend=side[:-6] if dense else side, return_spikes=True)
model.train()
feats = torch.randn(batch, steps, 80)

def step():
    model.zero_grad(set_to_none=True)
    out, spikes = model(feats)
    (out.sum() + sum(s.sum() for s in spikes) * 1e-3).backward()

step()
wall, cpu = [], []
for _ in range(count):
    w, c = time.perf_counter(), time.process_time()
    step()
    wall.append(time.perf_counter() - w)
    cpu.append(time.process_time() - c)
import sparse
print(json.dumps({"wall": wall, "cpu": cpu, "file": sparse.__file__}))
"""


def _run(side: str, path: str, args: argparse.Namespace) -> dict:
    """One process of ``side`` with ``path`` first on its import path (and as its folder:
    ``python -c`` also imports from the working folder)."""
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": str(args.threads)}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, side, str(args.batch), str(args.steps), str(args.threads),
         str(args.steps_per_run)], env=env, cwd=path, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise SystemExit(f"{side} run failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    """Run the comparison, print its table and return the median seconds per side."""
    parser = argparse.ArgumentParser(prog="python -m sparse.bench upstream", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upstream", required=True, type=Path,
                        help="folder of an idiap/sparse checkout (holds sparse/encoder_asr.py)")
    parser.add_argument("--backends", default="cpu-dense,cpu",
                        help="this package's back-ends ('cpu-dense': cpu with dense products)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=300, help="time steps (frames at dt 2 ms)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3, help="processes per side, alternating")
    parser.add_argument("--steps-per-run", type=int, default=3)
    args = parser.parse_args(argv)
    upstream = args.upstream.expanduser().resolve()
    if not (upstream / "sparse" / "encoder_asr.py").is_file():
        raise SystemExit(f"{upstream} does not hold upstream's sparse/encoder_asr.py")
    ours = str(Path(__file__).resolve().parents[2])
    sides = ["upstream", *args.backends.split(",")]
    seen = {side: {"wall": [], "cpu": []} for side in sides}
    for _ in range(args.runs):
        for side in sides:
            path = str(upstream) if side == "upstream" else ours
            got = _run(side, path, args)
            if not Path(got["file"]).resolve().is_relative_to(path):
                raise SystemExit(f"the {side} run imported {got['file']}, not from {path}")
            for clock in ("wall", "cpu"):
                seen[side][clock] += got[clock]
    med = {f"{side}/{clock}": statistics.median(v) for side, d in seen.items()
           for clock, v in d.items()}
    count = len(seen["upstream"]["wall"])
    print(f"# ASREncoder paper configuration, dt 2 ms, B = {args.batch}, T = {args.steps}, "
          f"forward + backward, {args.threads} thread(s), medians of {count} steps per side")
    print("| encoder | wall s | CPU s | speed-up (wall) | speed-up (CPU) |")
    print("|---|---:|---:|---:|---:|")
    for side in sides:
        label = "upstream SPARSE" if side == "upstream" else f"this package ({side})"
        wall, cpu = med[f"{side}/wall"], med[f"{side}/cpu"]
        print(f"| {label} | {wall:.3f} | {cpu:.3f} | {med['upstream/wall'] / wall:.1f}x | "
              f"{med['upstream/cpu'] / cpu:.1f}x |")
    return med
