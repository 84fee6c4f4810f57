"""What a recipe does when it fails: one clear line and exit status 2, no empty folders left.

:class:`~sparse.errors.UserError` (defined in :mod:`sparse.errors`, so that every layer raises
it; :class:`RecipeError` is the recipes' own) is a problem the user can fix (missing data, a bad
override, an unreadable audio file): :func:`run_recipe` turns it into one line on stderr
instead of a traceback wall, and closes a torchrun worker cleanly (see :mod:`.distributed`).
Every other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..errors import RecipeError, UserError
from .distributed import close_process_group, exit_without_teardown
from .logs import drop_speechbrain_noise

__all__ = ["EXIT_CODE_USER_ERROR", "RecipeError", "run_recipe", "no_empty_folders_left"]

EXIT_CODE_USER_ERROR = 2


def _first_meaningful_line(message: str) -> str:
    """Strip DataLoader-worker decoration from a re-raised :class:`~sparse.errors.UserError`.

    PyTorch re-raises a worker's exception with the worker traceback glued into the message;
    the original message is its last non-empty line.
    """
    if "Traceback" not in message:
        return message.strip()
    lines = [line for line in message.splitlines() if line.strip()]
    last = lines[-1] if lines else message
    return re.sub(r"^\s*[\w.]*Error:\s*", "", last).strip()


def run_recipe(main: Callable[[], Any], *, prog: str = "recipe") -> None:
    """Run ``main()``; report a :class:`~sparse.errors.UserError` as one line, exit status 2.

    SpeechBrain's import-time noise is dropped first (:func:`~.logs.drop_speechbrain_noise`).
    Other exceptions are real bugs and propagate with their traceback.

    Parameters
    ----------
    main : callable
        The recipe's entry point, called without arguments.
    prog : str
        Name printed in front of the message.
    """
    drop_speechbrain_noise()
    try:
        main()
    except UserError as err:
        print(f"{prog}: error: {_first_meaningful_line(str(err))}", file=sys.stderr)
        sys.exit(EXIT_CODE_USER_ERROR)
    if close_process_group() and "LOCAL_RANK" in os.environ:  # a torchrun worker
        exit_without_teardown()


@contextlib.contextmanager
def no_empty_folders_left(*folders: str | Path) -> Iterator[None]:
    """On an exception, remove each of ``folders`` (in the order given) that is empty.

    Loading a training YAML creates its ``save/`` folder (SpeechBrain's ``Checkpointer``) and
    the output folder above it; a run that then fails a check must not leave them behind
    empty. Folders holding anything are kept; an empty one goes whoever made it (which
    cannot be told afterwards, and an empty folder holds nothing to lose).
    """
    try:
        yield
    except BaseException:
        for folder in folders:
            with contextlib.suppress(OSError):  # not empty, or not there
                Path(folder).rmdir()
        raise
