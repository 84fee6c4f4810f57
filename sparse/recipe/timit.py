"""Steps of the TIMIT recipe that its training and its analysis share.

Both scripts decide the same way whether the bundled sample is used (:func:`uses_sample`) and
which folder the manifests' ``{data_root}`` stands for (:func:`data_root`), so that an
analysis follows the training run it analyses (sample, TIMIT or ``--manifest_folder``); both
write and check the manifests with :func:`prepare_data` and encode phones with
:func:`make_label_encoder`. The corpus code (preparation, folding, validation) is
:mod:`sparse.data.timit`.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import speechbrain as sb

from ..data.timit import SPLITS, TIMIT39_PHONES, prepare_timit, validate_manifest
from .errors import RecipeError

__all__ = ["AUDIO_CHECK_FILE", "uses_sample", "data_root", "make_label_encoder",
           "copy_manifests", "prepare_data"]

logger = logging.getLogger(__name__)

#: Files that passed the audio check (path, size, time), in the save folder.
AUDIO_CHECK_FILE = "audio_check.json"


def uses_sample(hparams: Mapping[str, Any]) -> bool:
    """The bundled sample (and its YAML block) is used when no data or manifest folder is given.

    Examples
    --------
    >>> uses_sample({"data_folder": None, "manifest_folder": None})
    True
    >>> uses_sample({"data_folder": None, "manifest_folder": "my_corpus"})
    False
    """
    return hparams.get("data_folder") is None and hparams.get("manifest_folder") is None


def data_root(hparams: Mapping[str, Any], sample_mode: bool, sample_folder: str | Path) -> str:
    """The folder that the manifests' ``{data_root}`` stands for.

    The bundled ``sample_folder`` in sample mode; else ``data_folder``, or the manifest folder
    when manifests come without a data folder (their paths are then relative to it).

    Examples
    --------
    >>> data_root({"data_folder": None, "manifest_folder": "m"}, False, "sample")
    'm'
    """
    if sample_mode:
        return str(sample_folder)
    if hparams.get("data_folder") is None and hparams.get("manifest_folder"):
        return str(hparams["manifest_folder"])
    return str(hparams["data_folder"])


def make_label_encoder(hparams: Mapping[str, Any]) -> sb.dataio.encoder.CTCTextEncoder:
    """CTC label encoder over the fixed 39-phone set, blank at ``blank_index`` (40 labels)."""
    encoder = sb.dataio.encoder.CTCTextEncoder()
    encoder.load_or_create(
        path=hparams["label_encoder_file"],
        from_iterables=[TIMIT39_PHONES],
        sequence_input=False,
        special_labels={"blank_label": hparams["blank_index"]},
    )
    encoder.expect_len(hparams["vocab_size"])
    return encoder


def copy_manifests(source_folder: str | Path, save_folder: str | Path, what: str) -> None:
    """Copy ``train.json``, ``dev.json``, ``test.json`` into ``save_folder`` (the preparer's place).

    ``what`` names the source in the error raised when a manifest is missing.
    """
    source_folder, save = Path(source_folder), Path(save_folder)
    if not source_folder.is_dir():
        raise RecipeError(f"{what} not found: {source_folder}")
    save.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        source = source_folder / f"{split}.json"
        if not source.is_file():
            raise RecipeError(f"{what} lacks {split}.json: {source}")
        shutil.copyfile(source, save / f"{split}.json")


def prepare_data(hparams: Mapping[str, Any], sample_mode: bool) -> None:
    """Write (or copy) the manifests, then validate them (phones, every audio file decoded).

    In sample mode the manifests are copied from ``data_folder``, which :func:`data_root` set
    to the bundled sample; with ``manifest_folder`` from there; else TIMIT is prepared.
    """
    if sample_mode:
        copy_manifests(hparams["data_folder"], hparams["save_folder"], "bundled sample folder")
    elif hparams.get("manifest_folder"):
        copy_manifests(hparams["manifest_folder"], hparams["save_folder"], "manifest folder")
    else:
        prepare_timit(
            data_folder=hparams["data_folder"],
            save_folder=hparams["save_folder"],
            skip_prep=hparams["skip_prep"],
        )
    problems = []  # every manifest is checked, so that one error names all bad data
    for key in ("train_annotation", "valid_annotation", "test_annotation"):
        try:
            count = validate_manifest(
                hparams[key], hparams["data_folder"], check_audio=hparams["check_audio"],
                audio_cache=Path(hparams["save_folder"]) / AUDIO_CHECK_FILE,
            )
        except RecipeError as err:
            problems.append(str(err))
            continue
        logger.info("%s: %d utterances", hparams[key], count)
    if problems:
        raise RecipeError("\n".join(problems))
