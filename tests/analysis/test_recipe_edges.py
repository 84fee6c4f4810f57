"""Edges of the analysis recipes that need no run: dropped SpeechBrain noise, folder clean-up."""

import logging

import pytest

from sparse.recipe import drop_speechbrain_noise, no_empty_folders_left

NOISE = "torchvision is not available - cannot save figures"


def test_only_the_listed_message_of_its_logger_is_dropped(caplog):
    drop_speechbrain_noise()
    drop_speechbrain_noise()  # idempotent: one filter
    logger = logging.getLogger("speechbrain.utils.train_logger")
    assert len(logger.filters) == 1
    with caplog.at_level(logging.WARNING):
        logger.warning(NOISE)
        logger.warning("torchvision is not available - something else")
        logging.getLogger("speechbrain.core").warning(NOISE)
    assert [(r.name, r.getMessage()) for r in caplog.records] == [
        ("speechbrain.utils.train_logger", "torchvision is not available - something else"),
        ("speechbrain.core", NOISE)]


def test_a_failure_removes_the_empty_folders_and_keeps_the_rest(tmp_path):
    out, kept = tmp_path / "run", tmp_path / "kept"
    (out / "save").mkdir(parents=True)
    (kept / "save").mkdir(parents=True)
    (kept / "train_log.txt").write_text("epoch 1")
    for folder in (out, kept):
        with pytest.raises(RuntimeError, match="no checkpoint"), \
                no_empty_folders_left(folder / "save", folder):
            raise RuntimeError("no checkpoint")
    assert not out.exists() and tmp_path.exists()
    assert not (kept / "save").exists() and (kept / "train_log.txt").is_file()
    with no_empty_folders_left(out):  # no failure: nothing is removed
        out.mkdir()
    assert out.is_dir()
