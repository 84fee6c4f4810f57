"""Heidelberg Digits (HD) audio and Speech Commands manifests, as 40-band Kaldi log-mel features.

HD layout (Cramer et al., 2020)::

    <data_folder>/train_filenames.txt   one file name per line
    <data_folder>/test_filenames.txt
    <data_folder>/audio/lang-{english|german}_speaker-<NN>_trial-<k>_digit-<d>.flac

Labels: the digit ``d`` (0..9) for English, ``d + 10`` for German: 20 classes (SpArch's
``int(name[-6]) + 10 * (name[5] == "g")``). HD has no validation list: the default protocol
``"speaker"`` holds out whole training speakers; ``"test_as_valid"`` is upstream SpArch
(validation = test split; model selection on the test set).

Features (:func:`fbank_features`): mono, resampled to 16 kHz when the file has another rate
(upstream assumes 16 kHz whatever the file says), then
``torchaudio.compliance.kaldi.fbank(num_mel_bins=40)`` with Kaldi defaults (25/10 ms,
povey window, pre-emphasis 0.97, DC removal, no dither, log). Batches are zero-padded;
the models take the relative lengths and ignore the padding in their time averages.

Speech Commands (35 words) uses the manifests written by the Speech Commands preparer,
:mod:`sparse.data.speech_commands` (``task="all"``); :func:`manifest_datasets` reads them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from speechbrain.dataio.dataset import DynamicItemDataset

from ..errors import ConfigError, DataError
from .audio import load_waveform
from .shd import hold_out_speakers

__all__ = ["SAMPLE_RATE", "N_MELS", "HD_VALID_PROTOCOLS", "parse_hd_name", "read_audio_16k",
           "fbank_features", "hd_datasets", "manifest_datasets"]

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
N_MELS = 40
HD_VALID_PROTOCOLS = ("speaker", "test_as_valid")
_HD_NAME = re.compile(r"lang-(english|german)_speaker-(\d+)_trial-(\d+)_digit-(\d)")


def parse_hd_name(name: str) -> tuple[int, int]:
    """Label (0..19) and speaker id of an HD file name.

    Examples
    --------
    >>> parse_hd_name("lang-german_speaker-03_trial-7_digit-4.flac")
    (14, 3)
    """
    m = _HD_NAME.search(name)
    if m is None:
        raise DataError(
            f"not an HD file name (lang-<l>_speaker-<n>_trial-<k>_digit-<d>): {name!r}")
    return int(m.group(4)) + (10 if m.group(1) == "german" else 0), int(m.group(2))


def read_audio_16k(path: str | Path, start: int = 0, stop: int = -1) -> torch.Tensor:
    """Mono waveform ``(samples,)`` at 16 kHz, samples ``[start, stop)`` of the file.

    :func:`~sparse.data.audio.load_waveform` with the ``"sinc"`` resampler
    (``torchaudio.functional.resample``), the HD recipe's since its first run (exported HD
    and Speech Commands SpArch models record it).
    """
    return load_waveform(path, SAMPLE_RATE, "sinc", None, start, stop)


def fbank_features(wave: torch.Tensor, n_mels: int = N_MELS) -> torch.Tensor:
    """Kaldi log-mel filterbank ``(frames, n_mels)`` of a 16 kHz waveform ``(samples,)``.

    Clips shorter than one 25 ms window are zero-padded to one frame.

    Examples
    --------
    >>> fbank_features(torch.randn(16000) * 0.1).shape
    torch.Size([98, 40])
    """
    from torchaudio.compliance.kaldi import fbank

    win = int(0.025 * SAMPLE_RATE)
    if wave.numel() < win:
        wave = torch.nn.functional.pad(wave, (0, win - wave.numel()))
    return fbank(wave[None, :], num_mel_bins=n_mels, sample_frequency=SAMPLE_RATE)


def _audio_item(n_mels: int):
    def load(path: str, start: int = 0, stop: int = -1):
        yield fbank_features(read_audio_16k(path, start, stop), n_mels)

    return load


def hd_datasets(
    data_folder: str | Path,
    valid_protocol: str = "speaker",
    valid_fraction: float = 0.1,
    valid_speakers: Sequence[int] | None = None,
    seed: int = 0,
    n_mels: int = N_MELS,
) -> dict[str, DynamicItemDataset]:
    """Train / valid / test datasets of Heidelberg Digits.

    Parameters
    ----------
    data_folder : str or Path
        HD root (lists + ``audio/``).
    valid_protocol : {"speaker", "test_as_valid"}
        Validation protocol (see module docstring).
    valid_fraction, valid_speakers, seed
        Speaker hold-out (:func:`sparse.data.shd.hold_out_speakers`).
    n_mels : int
        Mel bands.

    Returns
    -------
    dict
        ``{"train", "valid", "test"}`` -> DynamicItemDataset yielding ``feats`` ``(frames, n_mels)``
        and ``label`` ``(1,)`` (int64).
    """
    if valid_protocol not in HD_VALID_PROTOCOLS:
        raise ConfigError(
            f"valid_protocol must be one of {HD_VALID_PROTOCOLS}, got {valid_protocol!r}")
    root = Path(data_folder)
    names = {}
    for split in ("train", "test"):
        lst = root / f"{split}_filenames.txt"
        if not lst.is_file():
            raise DataError(f"missing HD list {lst}")
        names[split] = [ln.strip() for ln in lst.read_text().splitlines() if ln.strip()]
    absent = [n for s in names for n in names[s] if not (root / "audio" / n).is_file()]
    if absent:
        raise DataError(f"{len(absent)} listed HD files are missing from {root / 'audio'}, "
                        f"e.g. {absent[:3]}")

    def build(items: list[str]) -> DynamicItemDataset:
        data = {}
        for n in items:
            label, _ = parse_hd_name(n)
            data[Path(n).stem] = {"path": str(root / "audio" / n), "label": label}
        feats = {"func": _audio_item(n_mels), "takes": ["path"], "provides": ["feats"]}
        lab = {"func": lambda y: torch.tensor([int(y)], dtype=torch.long), "takes": ["label"],
               "provides": ["label_t"]}
        ds = DynamicItemDataset(data, dynamic_items=[feats, lab])
        ds.set_output_keys({"id": "id", "feats": "feats", "label": "label_t"})
        return ds

    out = {"test": build(names["test"])}
    if valid_protocol == "test_as_valid":
        logger.warning(
            "valid_protocol=test_as_valid: validation IS the test split (upstream SpArch)")
        out["train"], out["valid"] = build(names["train"]), build(names["test"])
        return out
    speakers = np.array([parse_hd_name(n)[1] for n in names["train"]])
    is_valid, chosen = hold_out_speakers(speakers, valid_fraction, valid_speakers, seed)
    logger.info("HD validation = training speakers %s (%d of %d files)", chosen,
                int(is_valid.sum()), len(speakers))
    out["train"] = build([n for n, v in zip(names["train"], is_valid, strict=True) if not v])
    out["valid"] = build([n for n, v in zip(names["train"], is_valid, strict=True) if v])
    return out


def manifest_datasets(
    manifest_folder: str | Path, data_folder: str | Path, n_mels: int = N_MELS
) -> tuple[dict[str, DynamicItemDataset], list[str]]:
    """Datasets from Speech Commands preparer manifests (``{split}.csv`` + ``labels.txt``).

    Parameters
    ----------
    manifest_folder : str or Path
        Where the preparer wrote ``train/valid/test.csv`` and ``labels.txt``.
    data_folder : str or Path
        Value of ``$data_root`` in the ``wav`` column.
    n_mels : int
        Mel bands.

    Returns
    -------
    datasets : dict
        ``{"train", "valid", "test"}`` -> DynamicItemDataset (``feats``, ``label``).
    labels : list of str
        Class names in index order.
    """
    folder = Path(manifest_folder)
    labels = [ln.strip() for ln in (folder / "labels.txt").read_text().splitlines() if ln.strip()]
    index = {name: i for i, name in enumerate(labels)}
    out = {}
    for split in ("train", "valid", "test"):
        ds = DynamicItemDataset.from_csv(str(folder / f"{split}.csv"),
                                         replacements={"data_root": str(data_folder)})
        feats = {"func": _audio_item(n_mels), "takes": ["wav", "start", "stop"],
                 "provides": ["feats"]}
        lab = {"func": lambda y: torch.tensor([index[y]], dtype=torch.long), "takes": ["label"],
               "provides": ["label_t"]}
        ds.add_dynamic_item(**feats)
        ds.add_dynamic_item(**lab)
        ds.set_output_keys({"id": "id", "feats": "feats", "label": "label_t"})
        out[split] = ds
    return out, labels
