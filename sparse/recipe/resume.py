"""What a killed run needs to continue exactly as if it had never stopped.

SpeechBrain 1.1.2 checkpoints the weights, the optimiser, the recoverables of the YAML, the
position in the epoch (``SaveableDataLoader``: batches already yielded) and the Brain's step
and running loss. It does not checkpoint the global random states: a resumed run re-seeds from
``seed`` and so draws other dropout masks, augmentations and noise than the run it replaces.
Nor does it keep ``train_log.txt`` in step with the checkpoint it recovers. This module adds
both:

* :class:`RandomStates`, a recoverable holding Python's, NumPy's and PyTorch's (CPU and every
  CUDA device) global random states. The shuffling order needs no state of its own: the
  training sampler draws it from ``seed + epoch`` at the start of every epoch (SpeechBrain's
  ``ReproducibleRandomSampler``, PyTorch's ``DistributedSampler``), both recovered.
* :func:`trim_train_log`, which cuts ``train_log.txt`` back to the epochs of the recovered
  checkpoint, so that epochs a killed run logged but never checkpointed are not logged twice.

:class:`sparse.recipe.brain.RecipeBrain` uses both.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from speechbrain.utils.checkpoints import mark_as_loader, mark_as_saver, register_checkpoint_hooks

__all__ = ["capture_random_states", "restore_random_states", "RandomStates", "trim_train_log"]


def capture_random_states() -> dict[str, Any]:
    """The global random states of Python, NumPy and PyTorch (CPU, and CUDA if initialised).

    Plain types and tensors only, so that ``torch.load(weights_only=True)`` reads them back.
    """
    kind, key, pos, has_gauss, cached = np.random.get_state()
    states: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {"kind": kind, "key": torch.from_numpy(key.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_random_states(states: dict[str, Any]) -> None:
    """Set the global random states to ``states`` (from :func:`capture_random_states`).

    CUDA states are restored when this process sees as many devices as the saving one did.
    """
    random.setstate(states["python"])
    npy = states["numpy"]
    np.random.set_state((npy["kind"], npy["key"].numpy().astype(np.uint32), npy["pos"],
                         npy["has_gauss"], npy["cached_gaussian"]))
    torch.set_rng_state(states["torch"])
    cuda = states.get("cuda")
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


@register_checkpoint_hooks
class RandomStates:
    """Recoverable: the global random states (:func:`capture_random_states`) in a checkpoint.

    An end-of-epoch checkpoint's states are restored when it is loaded. An intra-epoch
    checkpoint's states are kept in :attr:`pending` until :meth:`apply_pending` is called once
    the resumed epoch's iterator exists: creating a ``DataLoader`` iterator draws its workers'
    base seed from the global generator, a draw the interrupted run made before it saved.

    Examples
    --------
    >>> states = RandomStates()
    >>> states.save(getfixture("tmp_path") / "random_states.ckpt")
    >>> first = torch.rand(3)
    >>> states.load(getfixture("tmp_path") / "random_states.ckpt", end_of_epoch=True)
    >>> torch.equal(torch.rand(3), first)
    True
    """

    def __init__(self) -> None:
        self.pending: dict[str, Any] | None = None

    @mark_as_saver
    def save(self, path: str | Path) -> None:
        """Write the current global random states to ``path``."""
        torch.save(capture_random_states(), path)

    @mark_as_loader
    def load(self, path: str | Path, end_of_epoch: bool) -> None:
        """Read the states of ``path``; restore them now (end of epoch) or keep them pending."""
        states = torch.load(path, weights_only=True)
        if end_of_epoch:
            self.pending = None
            restore_random_states(states)
        else:
            self.pending = states

    def apply_pending(self) -> bool:
        """Restore the states an intra-epoch checkpoint left pending; whether there were any."""
        if self.pending is None:
            return False
        states, self.pending = self.pending, None
        restore_random_states(states)
        return True


_EPOCH_LINE = re.compile(r"epoch: (\d+)\b")


def trim_train_log(path: str | Path, epoch: int) -> int:
    """Cut a ``train_log.txt`` after the line of ``epoch`` (the recovered checkpoint's epoch).

    A run logs an epoch's line before its checkpoint is written, and tests after the last one;
    a run killed in between leaves lines that the resumed run writes again. Every line after the
    last ``epoch: N`` line with ``N <= epoch`` goes (with ``epoch`` 0, every line).

    Parameters
    ----------
    path : str or Path
        The log (SpeechBrain's ``FileTrainLogger`` file); nothing happens if it does not exist.
    epoch : int
        The last epoch whose checkpoint was recovered (the epoch counter after recovery).

    Returns
    -------
    int
        The number of lines removed.

    Examples
    --------
    >>> log = getfixture("tmp_path") / "train_log.txt"
    >>> _ = log.write_text("epoch: 1, lr: 1 - a\\nepoch: 2, lr: 1 - b\\nEpoch loaded: 2 - test\\n")
    >>> trim_train_log(log, 1), log.read_text()
    (2, 'epoch: 1, lr: 1 - a\\n')
    """
    path = Path(path)
    if not path.is_file():
        return 0
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    keep = 0
    for number, line in enumerate(lines):
        match = _EPOCH_LINE.match(line)
        if match and int(match.group(1)) <= epoch:
            keep = number + 1
    if keep < len(lines):
        path.write_text("".join(lines[:keep]), encoding="utf-8")
    return len(lines) - keep
