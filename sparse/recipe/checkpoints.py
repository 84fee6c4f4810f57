"""Checkpoints a kill left torn are set aside before SpeechBrain recovers one.

SpeechBrain 1.1.2 writes ``CKPT.yaml`` first and the parameter files after it; a process killed
in between leaves a folder (missing or truncated files) that recovery would pick and fail on.
"""

from __future__ import annotations

import logging
import zipfile
from collections.abc import Iterable
from pathlib import Path

__all__ = ["checkpoint_is_complete", "set_aside_incomplete_checkpoints",
           "SkipIncompleteCheckpoints"]

logger = logging.getLogger(__name__)


def checkpoint_is_complete(folder: str | Path, recoverables: Iterable[str]) -> bool:
    """Whether a ``CKPT+*`` folder holds a whole file for every recoverable.

    A file counts as whole when it is non-empty and, if it is a zip archive (what
    ``torch.save`` writes), its closing central directory is there: a process killed while
    writing leaves a truncated archive without one.

    Parameters
    ----------
    folder : str or Path
        One checkpoint folder.
    recoverables : iterable of str
        Names whose ``<name>.ckpt`` file every complete checkpoint holds.
    """
    folder = Path(folder)
    if not (folder / "CKPT.yaml").is_file():
        return False
    for name in recoverables:
        path = folder / f"{name}.ckpt"
        if not path.is_file() or path.stat().st_size == 0:
            return False
        with path.open("rb") as handle:
            is_zip = handle.read(4) == b"PK\x03\x04"
        if is_zip and not zipfile.is_zipfile(path):
            return False
    return True


def set_aside_incomplete_checkpoints(
    checkpoints_dir: str | Path, recoverables: Iterable[str]
) -> None:
    """Rename ``CKPT+*`` folders that fail :func:`checkpoint_is_complete` so they are never loaded.

    SpeechBrain writes ``CKPT.yaml`` first and the parameter files after it; a process killed in
    between leaves a folder (missing or truncated files) that recovery would pick and fail on.
    Call it on the main process before ``Checkpointer.recover_if_possible`` and after every
    recoverable is registered, as :class:`SkipIncompleteCheckpoints` does.

    Parameters
    ----------
    checkpoints_dir : str or Path
        The checkpointer's folder.
    recoverables : iterable of str
        Names whose ``<name>.ckpt`` file every complete checkpoint holds.
    """
    names = list(recoverables)
    for folder in sorted(Path(checkpoints_dir).glob("CKPT+*")):
        if not checkpoint_is_complete(folder, names):
            target = folder.with_name("incomplete-" + folder.name)
            folder.rename(target)
            logger.warning("checkpoint %s is incomplete; moved to %s", folder, target)


class SkipIncompleteCheckpoints:
    """``Brain`` mixin: set incomplete checkpoints aside before ``on_fit_start`` recovers one.

    Use as ``class MyBrain(SkipIncompleteCheckpoints, sb.Brain)``. ``Brain.on_fit_start``
    calls ``init_optimizers`` right before recovery, when every recoverable, the optimizer
    included, is registered and so can be checked for by
    :func:`set_aside_incomplete_checkpoints` (on the main process; the others wait). A class
    that registers recoverables in its own ``init_optimizers`` goes after the mixin in the MRO
    (``SpArchBrain`` does so through a base class), or its files go unchecked.
    """

    def init_optimizers(self) -> None:
        """Make the optimizers (``Brain.init_optimizers``), then set torn checkpoints aside."""
        from speechbrain.utils.distributed import ddp_barrier, if_main_process

        super().init_optimizers()
        if self.checkpointer is None:
            return
        if if_main_process():
            set_aside_incomplete_checkpoints(
                self.checkpointer.checkpoints_dir, self.checkpointer.recoverables
            )
        ddp_barrier()
