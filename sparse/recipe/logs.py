"""Log records that are noise for sparse's commands: SpeechBrain's, dropped one by one, and
matplotlib's DEBUG records (:func:`quiet_matplotlib`).

SpeechBrain 1.1.2 builds ``ProgressSampleLogger``'s image saver when
``speechbrain.utils.train_logger`` is imported (a recipe YAML's ``FileTrainLogger`` imports
it), and without torchvision it warns ``torchvision is not available - cannot save figures``,
before logging is set up, so that the line reaches stderr on every run. sparse never saves
figures through that logger (matplotlib draws its figures), so the warning says nothing
about a sparse run. Only the exact messages listed are dropped, from their own logger;
everything else, and that logger's other records, pass.
"""

from __future__ import annotations

import logging

__all__ = ["NOISE", "drop_speechbrain_noise", "quiet_matplotlib"]

#: Logger name -> messages dropped from it (whole messages, compared exactly).
NOISE: dict[str, tuple[str, ...]] = {
    "speechbrain.utils.train_logger": ("torchvision is not available - cannot save figures",),
}


class _DropMessages(logging.Filter):
    """Drops records whose message is one of ``messages``."""

    def __init__(self, messages: tuple[str, ...]) -> None:
        super().__init__()
        self.messages = frozenset(messages)

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() not in self.messages


def drop_speechbrain_noise() -> None:
    """Install the filters of :data:`NOISE` (once; call before the recipe YAML is loaded)."""
    for name, messages in NOISE.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropMessages) for f in logger.filters):
            logger.addFilter(_DropMessages(messages))


def quiet_matplotlib() -> None:
    """Keep matplotlib's loggers at WARNING, so that a run's ``log.txt`` (SpeechBrain logs
    DEBUG there) does not receive its font-matching lines; call before matplotlib is imported
    (it logs its paths on import)."""
    logging.getLogger("matplotlib").setLevel(logging.WARNING)
