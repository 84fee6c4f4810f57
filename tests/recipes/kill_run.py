"""Run a recipe as its command line does, and SIGKILL it at a chosen point (for resume tests).

    python tests/recipes/kill_run.py <point> <recipe script> <hparams> [overrides...]

``point`` is one of

* ``train:<epoch>:<step>``: after the optimiser step of training batch ``step`` of ``epoch``
  (before the intra-epoch checkpoint SpeechBrain may save after that batch);
* ``valid:<epoch>:<batch>``: after validation batch ``batch`` of ``epoch``;
* ``save:<n>:<file>``: while the ``n``-th checkpoint file called ``<file>`` (e.g.
  ``optimizer.ckpt``) is written, half of it on disk.

The process kills itself with SIGKILL (no cleanup, no exit handlers), as ``kill -9`` would; if
the point is never reached the run ends normally and the exit status tells the test so.
"""

from __future__ import annotations

import io
import os
import runpy
import signal
import sys
from pathlib import Path


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _kill_in_training(epoch: int, step: int) -> None:
    from sparse.recipe.brain import RecipeBrain

    original = RecipeBrain.on_fit_batch_end

    def on_fit_batch_end(self, batch, outputs, loss, should_step):
        original(self, batch, outputs, loss, should_step)
        if self.hparams.epoch_counter.current == epoch and self.step == step:
            _die()

    RecipeBrain.on_fit_batch_end = on_fit_batch_end


def _kill_in_validation(epoch: int, batch_number: int) -> None:
    import speechbrain as sb

    original = sb.Brain.evaluate_batch

    def evaluate_batch(self, batch, stage):
        loss = original(self, batch, stage)
        if (stage == sb.Stage.VALID and self.hparams.epoch_counter.current == epoch
                and self.step == batch_number):
            _die()
        return loss

    sb.Brain.evaluate_batch = evaluate_batch


def _kill_while_saving(count: int, name: str) -> None:
    import torch

    original = torch.save
    seen = 0

    def save(obj, f, *args, **kwargs):
        nonlocal seen
        if isinstance(f, (str, os.PathLike)) and Path(f).name == name:
            seen += 1
            if seen == count:
                buffer = io.BytesIO()
                original(obj, buffer, *args, **kwargs)
                data = buffer.getvalue()
                with open(f, "wb") as out:
                    out.write(data[: len(data) // 2])
                _die()
        return original(obj, f, *args, **kwargs)

    torch.save = save


def main(argv: list[str]) -> None:
    """Arm the kill point ``argv[0]``, then run the recipe ``argv[1]`` with ``argv[2:]``."""
    kind, first, second = argv[0].split(":")
    if kind == "train":
        _kill_in_training(int(first), int(second))
    elif kind == "valid":
        _kill_in_validation(int(first), int(second))
    elif kind == "save":
        _kill_while_saving(int(first), second)
    else:
        raise SystemExit(f"unknown kill point {argv[0]!r}")
    sys.argv = argv[1:]
    runpy.run_path(argv[1], run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
