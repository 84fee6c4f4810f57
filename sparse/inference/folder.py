"""The model folder: what a trained model is on disk, and how it is read back.

A model folder (written by :mod:`sparse.inference.export` at the end of training, in
``<output_folder>/model/``) holds::

    hyperparams.yaml     inference HyperPyYAML: metadata (kind, sample rate, dt, ...) and the
                         definitions of the modules (features, normaliser, encoder, classifier)
    <module>.ckpt        one file per entry of ``modules:`` (state dict, or the normaliser's
                         statistics), read with ``torch.load(weights_only=True)``
    label_encoder.txt    SpeechBrain label encoder (phones or class names)
    README.md            what the model was trained on, its metric, its time step

Every path inside is relative to the folder, so the folder can be copied anywhere.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import UserError

__all__ = ["HPARAMS_FILE", "LABELS_FILE", "README_FILE", "FORMAT_VERSION", "KINDS", "ModelKind",
           "MOVED_NAMES", "InferenceError", "save_module", "load_module", "read_model_folder"]

HPARAMS_FILE = "hyperparams.yaml"
LABELS_FILE = "label_encoder.txt"
README_FILE = "README.md"
#: Value of ``sparse_model:`` in the folders this version writes.
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ModelKind:
    """Everything that differs between the kinds of model folder, in one record per kind.

    Attributes
    ----------
    name : str
        The folder's ``kind:`` (``asr``, ``kws``, ``sparch``).
    interface : str
        The class of :mod:`sparse.inference` that loads it.
    weighted : tuple of str
        Modules of the training YAML whose weights the folder holds.
    stateless : tuple of str
        Other objects of the training YAML that inference needs (the feature extractor).
    example : str
        The interface call shown in the folder's README.
    command : str
        The ``python -m sparse`` command for its audio.
    """

    name: str
    interface: str
    weighted: tuple[str, ...]
    stateless: tuple[str, ...]
    example: str
    command: str


#: Model kinds by name.
KINDS: dict[str, ModelKind] = {kind.name: kind for kind in (
    ModelKind("asr", "SpikingASR", ("model", "classifier", "normalize"), ("compute_features",),
              'transcribe_file("speech.wav")', "transcribe"),
    ModelKind("kws", "SpikingKWS", ("model", "normalize"), ("compute_features",),
              'classify_file("clip.wav")', "classify"),
    ModelKind("sparch", "SpArchClassifier", ("model",), (), 'classify_file("clip.wav")',
              "classify"),
)}
#: Dotted names that folders written by earlier versions may hold -> their place now
#: (``sparse.models.training`` was removed in the architecture pass of #16).
MOVED_NAMES = {"sparse.models.training.build_model": "sparse.models.build_model"}


class InferenceError(UserError, ValueError):
    """A problem with a model folder or an input that the user can fix; one-line message."""


def save_module(module: nn.Module, path: Path) -> None:
    """Save a module's weights, or the statistics of a SpeechBrain ``InputNormalization``."""
    if hasattr(module, "_statistics_dict"):  # its statistics are attributes, not in state_dict
        state = {k: v.detach().cpu() if torch.is_tensor(v) else v
                 for k, v in module._statistics_dict().items()}
    else:
        state = {k: v.detach().cpu() for k, v in module.state_dict().items()}
    torch.save(state, path)


def load_module(module: nn.Module, path: Path) -> None:
    """Load what :func:`save_module` wrote (``weights_only=True``; every key must match)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise InferenceError(f"cannot read weights {path}: {' '.join(str(err).split())[:300]}") \
            from err
    if hasattr(module, "_load_statistics_dict"):
        module._load_statistics_dict(state)
        return
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise InferenceError(f"weights {path} do not fit the model of {path.parent / HPARAMS_FILE}"
                             f": {first}") from err


def check_model_folder(source: str | Path, hparams_file: str = HPARAMS_FILE) -> Path:
    """The folder as a ``Path``, or one clear error if it is not a model folder."""
    folder = Path(source).expanduser()
    if not folder.exists():
        raise FileNotFoundError(f"model folder not found: {folder}")
    if not folder.is_dir():
        raise InferenceError(f"{folder} is a file, not a model folder (a training run writes "
                             "its model to <output_folder>/model/)")
    path = folder / hparams_file
    if not path.is_file():
        raise InferenceError(f"{folder} is not a sparse model folder: no {hparams_file} (a "
                             "training run writes its model to <output_folder>/model/)")
    # checked on the text, before HyperPyYAML builds anything (a training YAML would seed,
    # create folders and build its augmenter)
    if not re.search(r"^sparse_model:", path.read_text(encoding="utf-8"), flags=re.MULTILINE):
        hint = f"; its model is in {folder / 'model'}" if (folder / "model" / hparams_file
                                                             ).is_file() else ""
        raise InferenceError(f"{folder} is not a sparse model folder: {hparams_file} is not a "
                             f"model description (no 'sparse_model' key){hint}")
    return folder


def copy_model_folder(folder: Path, savedir: str | Path) -> Path:
    """Copy the folder's files into ``savedir`` (SpeechBrain's ``savedir``); return it."""
    target = Path(savedir).expanduser()
    if target.resolve() != folder.resolve():
        shutil.copytree(folder, target, dirs_exist_ok=True)
    return target


def read_model_folder(
    source: str | Path,
    hparams_file: str = HPARAMS_FILE,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Build the modules of a model folder and load their weights (on the CPU).

    Returns
    -------
    dict
        The loaded hyperparameters, with ``model_folder`` (the folder, a ``Path``) added.

    Raises
    ------
    FileNotFoundError
        If the folder does not exist.
    InferenceError
        If it is not a model folder, a weight file is missing or does not fit, or an override
        names an unknown key.
    """
    from hyperpyyaml import load_hyperpyyaml

    folder = check_model_folder(source, hparams_file)
    path = folder / hparams_file
    text = path.read_text(encoding="utf-8")
    for old, new in MOVED_NAMES.items():  # tags such as !apply:<old> of older folders
        text = re.sub(rf"(![a-z]+:){re.escape(old)}\b", rf"\g<1>{new}", text)
    try:
        hparams = load_hyperpyyaml(text, dict(overrides or {}), overrides_must_match=True)
    except (ValueError, KeyError, TypeError, AttributeError, ImportError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InferenceError(f"cannot build the model of {path}: {first}") from err
    if not isinstance(hparams, dict) or "sparse_model" not in hparams:
        raise InferenceError(f"{path} is not a sparse model description (no 'sparse_model' key)")
    if int(hparams["sparse_model"]) > FORMAT_VERSION:
        raise InferenceError(f"{folder} was written by a newer sparse (format "
                             f"{hparams['sparse_model']} > {FORMAT_VERSION}); upgrade sparse")
    if hparams.get("kind") not in KINDS:
        raise InferenceError(f"{path}: unknown model kind {hparams.get('kind')!r}; "
                             f"expected one of {sorted(KINDS)}")
    for name, module in hparams["modules"].items():
        weights = folder / f"{name}.ckpt"
        if not weights.is_file():
            raise InferenceError(f"model folder {folder} lacks the weights {weights.name}")
        load_module(module, weights)
    hparams["model_folder"] = folder
    return hparams
