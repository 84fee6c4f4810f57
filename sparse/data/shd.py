"""Spiking Heidelberg Digits (SHD) and Spiking Speech Commands (SSC) from their HDF5 files.

Layout (Cramer et al., 2020), one file per split ``{shd|ssc}_{train|valid|test}.h5``
(SHD has no ``valid`` file)::

    spikes/times   ragged float arrays, event times in seconds, one array per example
    spikes/units   ragged int arrays, channel of each event, 0..699
    labels         (N,) int class ids (20 for SHD, 35 for SSC)
    extra/speaker  (N,) int speaker ids (present in the published files)

Binning (:func:`bin_events`): ``nb_steps`` bins of width ``max_time / nb_steps``. Bin ``k``
holds events with ``k Δ <= t < (k + 1) Δ``; an event exactly at ``t = max_time`` belongs to
the recording window and goes into the **last** bin (the window is closed on the right);
events with ``t > max_time`` (or ``t < 0``) are **dropped**, never clipped or wrapped into a
bin. Coincident events add (counts may exceed 1) unless ``binary=True``.
Upstream SpArch (``np.digitize`` on ``linspace(0, 1.4, 100)``) leaves bin 0 empty and sends
``t >= 1.4 s`` to index 100, one past the last bin.

Validation: SHD has no validation file. The default protocol ``"speaker"`` holds out whole
speakers of the training file (``extra/speaker``); ``"test_as_valid"`` reproduces upstream
SpArch (validation = test split: model selection and LR schedule on the test set, so the
reported test accuracy is optimistic). SSC's default is ``"official"`` (``ssc_valid.h5``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from speechbrain.dataio.dataset import DynamicItemDataset

from ..errors import ConfigError, DataError

__all__ = ["NB_UNITS", "NB_CLASSES", "VALID_PROTOCOLS", "bin_events", "SpikeH5",
           "hold_out_speakers", "write_spike_h5", "spike_datasets"]

logger = logging.getLogger(__name__)

#: Input channels of SHD and SSC (cochlea model outputs).
NB_UNITS = 700
#: Classes per task.
NB_CLASSES = {"shd": 20, "ssc": 35}
#: Validation protocols per task (first = default).
VALID_PROTOCOLS = {"shd": ("speaker", "test_as_valid"), "ssc": ("official", "speaker")}


def bin_events(
    times: Sequence[float] | np.ndarray,
    units: Sequence[int] | np.ndarray,
    nb_steps: int = 100,
    max_time: float = 1.4,
    nb_units: int = NB_UNITS,
    binary: bool = False,
) -> torch.Tensor:
    """Dense ``(nb_steps, nb_units)`` event counts of one example.

    Parameters
    ----------
    times : array of float
        Event times in seconds.
    units : array of int
        Channel of each event, in ``[0, nb_units)``.
    nb_steps : int
        Number of time bins.
    max_time : float
        End of the window in seconds (inclusive; later events are dropped).
    nb_units : int
        Number of channels.
    binary : bool
        Clip counts to 1.

    Returns
    -------
    torch.Tensor
        ``(nb_steps, nb_units)`` float32.

    Examples
    --------
    >>> x = bin_events([0.0, 0.5, 0.99, 1.0, 1.2], [0, 1, 1, 2, 3], 4, max_time=1.0, nb_units=4)
    >>> x.nonzero().tolist()  # t=1.0 -> last bin, t=1.2 dropped
    [[0, 0], [2, 1], [3, 1], [3, 2]]
    """
    if nb_steps < 1 or not max_time > 0:
        raise ConfigError(f"need nb_steps >= 1 and max_time > 0, got {nb_steps}, {max_time}")
    t = np.asarray(times, dtype=np.float64).reshape(-1)
    u = np.asarray(units, dtype=np.int64).reshape(-1)
    if t.shape != u.shape:
        raise DataError(f"times and units differ in length: {t.shape[0]} vs {u.shape[0]}")
    if u.size and (u.min() < 0 or u.max() >= nb_units):
        raise DataError(f"unit ids must be in [0, {nb_units}), got [{u.min()}, {u.max()}]")
    keep = (t >= 0.0) & (t <= max_time)
    idx = np.minimum(np.floor(t[keep] * (nb_steps / max_time)).astype(np.int64), nb_steps - 1)
    dense = np.zeros((nb_steps, nb_units), dtype=np.float32)
    np.add.at(dense, (idx, u[keep]), 1.0)
    if binary:
        np.minimum(dense, 1.0, out=dense)
    return torch.from_numpy(dense)


class SpikeH5:
    """Lazy reader of one SHD/SSC file; the HDF5 handle is opened on first use (per process).

    Parameters
    ----------
    path : str or Path
        The ``.h5`` file.
    """

    def __init__(self, path: str | Path) -> None:
        import h5py

        self.path = Path(path)
        self._h5 = None
        with h5py.File(self.path, "r") as f:
            for key in ("spikes/times", "spikes/units", "labels"):
                if key not in f:
                    raise DataError(f"{self.path} has no dataset '{key}' (not an SHD/SSC file?)")
            self.labels = np.asarray(f["labels"][()], dtype=np.int64)
            self.speakers = (np.asarray(f["extra/speaker"][()], dtype=np.int64)
                             if "extra/speaker" in f else None)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __getstate__(self) -> dict:  # DataLoader workers reopen the file
        state = dict(self.__dict__)
        state["_h5"] = None
        return state

    def events(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Event ``times`` (s) and ``units`` of example ``index``."""
        import h5py

        if self._h5 is None:
            self._h5 = h5py.File(self.path, "r")
        return self._h5["spikes/times"][index], self._h5["spikes/units"][index]


def hold_out_speakers(
    speakers: np.ndarray,
    valid_fraction: float = 0.1,
    valid_speakers: Sequence[int] | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, list[int]]:
    """Choose whole speakers for validation.

    Parameters
    ----------
    speakers : numpy.ndarray
        ``(N,)`` speaker id of each training example.
    valid_fraction : float
        Target share of examples; speakers are taken in a seeded random order until it is
        reached (at least one speaker, and at least one left for training).
    valid_speakers : sequence of int, optional
        Explicit speaker ids (overrides ``valid_fraction``).
    seed : int
        Seed of the speaker order.

    Returns
    -------
    is_valid : numpy.ndarray
        ``(N,)`` boolean mask of validation examples.
    chosen : list of int
        The held-out speakers.

    Examples
    --------
    >>> mask, chosen = hold_out_speakers(np.array([0, 0, 1, 1, 2, 2]), valid_speakers=[2])
    >>> mask.tolist(), chosen
    ([False, False, False, False, True, True], [2])
    """
    unique = np.unique(speakers)
    if valid_speakers is not None and len(valid_speakers) > 0:
        chosen = sorted(int(s) for s in valid_speakers)
        missing = set(chosen) - set(unique.tolist())
        if missing:
            raise ConfigError(f"valid_speakers {sorted(missing)} not among {unique.tolist()}")
    else:
        if unique.size < 2:
            raise DataError("a speaker-held-out validation split needs at least 2 speakers")
        order = np.random.default_rng(seed).permutation(unique)
        counts = {s: int((speakers == s).sum()) for s in unique.tolist()}
        chosen, total = [], 0
        for s in order.tolist():
            enough = total >= valid_fraction * speakers.size or len(chosen) == unique.size - 1
            if chosen and enough:
                break
            chosen.append(int(s))
            total += counts[s]
        chosen.sort()
    is_valid = np.isin(speakers, chosen)
    if is_valid.all():
        raise ConfigError("the validation speakers cover the whole training set")
    return is_valid, chosen


def write_spike_h5(
    path: str | Path,
    times: Sequence[np.ndarray],
    units: Sequence[np.ndarray],
    labels: Sequence[int],
    speakers: Sequence[int] | None = None,
) -> None:
    """Write examples in the SHD/SSC layout (used by the generated fixtures and tests).

    Parameters
    ----------
    path : str or Path
        Output ``.h5`` file.
    times, units : sequence of numpy.ndarray
        Per-example event times (s) and channels.
    labels : sequence of int
        Class id per example.
    speakers : sequence of int, optional
        Speaker id per example, stored as ``extra/speaker``.
    """
    import h5py

    def ragged(arrays: Sequence[np.ndarray], dtype: type) -> np.ndarray:
        out = np.empty(len(arrays), dtype=object)
        for i, a in enumerate(arrays):
            out[i] = np.asarray(a, dtype=dtype).reshape(-1)
        return out

    with h5py.File(path, "w") as f:
        f.create_dataset("spikes/times", data=ragged(times, np.float32),
                         dtype=h5py.vlen_dtype(np.float32))
        f.create_dataset("spikes/units", data=ragged(units, np.uint16),
                         dtype=h5py.vlen_dtype(np.uint16))
        f.create_dataset("labels", data=np.asarray(labels, dtype=np.uint8))
        if speakers is not None:
            f.create_dataset("extra/speaker", data=np.asarray(speakers, dtype=np.uint8))


def _dataset(reader: SpikeH5, indices: np.ndarray, split: str, nb_steps: int, max_time: float,
             binary: bool) -> DynamicItemDataset:
    """DynamicItemDataset with outputs ``id``, ``feats`` ``(T, 700)``, ``label`` ``(1,)`` int64."""
    data = {f"{split}_{int(i)}": {"index": int(i)} for i in indices}

    def load(index: int):
        times, units = reader.events(index)
        yield bin_events(times, units, nb_steps, max_time, NB_UNITS, binary)
        yield torch.tensor([int(reader.labels[index])], dtype=torch.long)

    item = {"func": load, "takes": ["index"], "provides": ["feats", "label"]}
    return DynamicItemDataset(data, dynamic_items=[item], output_keys=["id", "feats", "label"])


def spike_datasets(
    data_folder: str | Path,
    task: str = "shd",
    nb_steps: int = 100,
    max_time: float = 1.4,
    valid_protocol: str | None = None,
    valid_fraction: float = 0.1,
    valid_speakers: Sequence[int] | None = None,
    seed: int = 0,
    binary: bool = False,
) -> dict[str, DynamicItemDataset]:
    """Train / valid / test datasets of SHD or SSC.

    Parameters
    ----------
    data_folder : str or Path
        Folder holding ``{task}_{split}.h5``.
    task : {"shd", "ssc"}
        Which corpus.
    nb_steps, max_time, binary
        Binning (see :func:`bin_events`).
    valid_protocol : str, optional
        ``"speaker"`` (held-out training speakers), ``"test_as_valid"`` (SHD only, upstream
        SpArch) or ``"official"`` (SSC only); default: the first of :data:`VALID_PROTOCOLS`.
    valid_fraction, valid_speakers, seed
        Speaker hold-out (see :func:`hold_out_speakers`).

    Returns
    -------
    dict
        ``{"train", "valid", "test"}`` -> DynamicItemDataset yielding ``feats``
        ``(nb_steps, 700)`` and ``label``.
    """
    if task not in NB_CLASSES:
        raise ConfigError(f"task must be 'shd' or 'ssc', got {task!r}")
    protocol = valid_protocol or VALID_PROTOCOLS[task][0]
    if protocol not in VALID_PROTOCOLS[task]:
        raise ConfigError(
            f"valid_protocol {protocol!r} is not one of {VALID_PROTOCOLS[task]} for {task}")
    folder = Path(data_folder)
    split_files = {s: folder / f"{task}_{s}.h5" for s in ("train", "valid", "test")}
    needed = ["train", "test"] + (["valid"] if protocol == "official" else [])
    missing = [str(split_files[s]) for s in needed if not split_files[s].is_file()]
    if missing:
        raise DataError(f"missing {task.upper()} file(s): {', '.join(missing)}")
    train, test = SpikeH5(split_files["train"]), SpikeH5(split_files["test"])
    all_train = np.arange(len(train))
    args = (nb_steps, max_time, binary)
    out = {"test": _dataset(test, np.arange(len(test)), "test", *args)}
    if protocol == "official":
        out["train"] = _dataset(train, all_train, "train", *args)
        valid = SpikeH5(split_files["valid"])
        out["valid"] = _dataset(valid, np.arange(len(valid)), "valid", *args)
    elif protocol == "test_as_valid":
        logger.warning("valid_protocol=test_as_valid: validation IS the test split (upstream "
                       "SpArch); model selection and LR schedule see the test set")
        out["train"] = _dataset(train, all_train, "train", *args)
        out["valid"] = _dataset(test, np.arange(len(test)), "test", *args)
    else:
        if train.speakers is None:
            raise DataError(f"{split_files['train']} has no extra/speaker: use "
                            "valid_protocol=" + ("official" if task == "ssc" else "test_as_valid"))
        is_valid, chosen = hold_out_speakers(train.speakers, valid_fraction, valid_speakers, seed)
        logger.info("%s validation = training speakers %s (%d of %d examples)", task.upper(),
                    chosen, int(is_valid.sum()), len(train))
        out["train"] = _dataset(train, all_train[~is_valid], "train", *args)
        out["valid"] = _dataset(train, all_train[is_valid], "train", *args)
    return out
