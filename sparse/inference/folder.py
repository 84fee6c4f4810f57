"""The model folder: what a trained model is on disk, and how it is read back.

A model folder (written by :mod:`sparse.inference.export` at the end of training, in
``<output_folder>/model/``) holds::

    hyperparams.yaml     inference HyperPyYAML: metadata (kind, sample rate, dt, ...) and the
                         definitions of the modules (features, normaliser, encoder, classifier)
    <module>.ckpt        one file per entry of ``modules:`` (state dict, or the normaliser's
                         statistics), read with ``torch.load(weights_only=True)``
    label_encoder.txt    SpeechBrain label encoder (phones or class names)
    README.md            what the model was trained on, its metric, its time step

Every path inside is relative to the folder, so the folder can be copied anywhere. Which
modules, and so which ``.ckpt`` files, a folder holds depends on its kind (:data:`KINDS`, one
:class:`ModelKind` record per kind). A folder that lacks any file of its kind is refused when
it loads, with one message naming every missing file; the interfaces then check that the
label encoder has one label per model output.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import UserError

__all__ = ["HPARAMS_FILE", "LABELS_FILE", "README_FILE", "FORMAT_VERSION", "ModelKind", "KINDS",
           "MOVED_NAMES", "InferenceError", "save_module", "load_module", "check_model_folder",
           "check_folder_files", "link_model_folder", "read_model_folder"]

HPARAMS_FILE = "hyperparams.yaml"
LABELS_FILE = "label_encoder.txt"
README_FILE = "README.md"
#: Value of ``sparse_model:`` in the folders this version writes.
FORMAT_VERSION = 1
#: Dotted names that folders written by earlier versions may hold -> their place now
#: (``sparse.models.training`` was removed in the architecture pass of #16).
MOVED_NAMES = {"sparse.models.training.build_model": "sparse.models.build_model"}


@dataclass(frozen=True)
class ModelKind:
    """What a model folder of one kind holds, and which interface loads it.

    Attributes
    ----------
    name : str
        The value of ``kind:`` in the folder's ``hyperparams.yaml``.
    interface : str
        The class of :mod:`sparse.inference` that loads it.
    weighted : tuple of str
        Modules with weights: keys of the training YAML, entries of the inference YAML's
        ``modules:``, one ``<name>.ckpt`` file each.
    stateless : tuple of str
        Other objects of the training YAML that inference needs (feature extraction).
    example : str
        The interface call the folder's README shows.
    command : str
        The ``python -m sparse`` command for its audio.
    """

    name: str
    interface: str
    weighted: tuple[str, ...]
    stateless: tuple[str, ...] = ()
    example: str = 'label_file("clip.wav")'
    command: str = "classify"

    @property
    def files(self) -> tuple[str, ...]:
        """Every file a folder of this kind must hold (``README.md`` is for people only)."""
        return (HPARAMS_FILE, *(f"{name}.ckpt" for name in self.weighted), LABELS_FILE)


#: Model kinds by name: the one place that says what each kind is made of.
KINDS: dict[str, ModelKind] = {kind.name: kind for kind in (
    ModelKind("asr", "SpikingASR", ("model", "classifier", "normalize"), ("compute_features",),
              'transcribe_file("speech.wav")', "transcribe"),
    ModelKind("kws", "SpikingKWS", ("model", "normalize"), ("compute_features",)),
    ModelKind("sparch", "SpArchClassifier", ("model",)),
)}


class InferenceError(UserError):
    """A problem with a model folder, an input or an option that the user can fix (one line)."""


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
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as err:
        # unreadable, damaged (torch: RuntimeError "failed finding central directory") or a
        # pickle of more than tensors and plain values (refused by weights_only)
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


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InferenceError(f"cannot read {path}: {err}") from err


def check_model_folder(source: str | Path, hparams_file: str = HPARAMS_FILE) -> Path:
    """The folder as a ``Path``, or one clear error if it is not a model folder.

    Raises
    ------
    InferenceError
        If ``source`` is a URL, does not exist, is a file, or holds no model description.
    """
    text = str(source)
    if "://" in text:
        raise InferenceError(f"{text} is a URL: sparse loads local model folders only (nothing "
                             "is downloaded); download the folder and give its path")
    folder = Path(source).expanduser()
    if not folder.exists():
        hub = ("; sparse loads local model folders only, not HuggingFace repositories"
               if isinstance(source, str) and re.fullmatch(r"[\w.-]+/[\w.-]+", text) else "")
        raise InferenceError(f"model folder not found: {text}{hub}")
    if not folder.is_dir():
        raise InferenceError(f"{folder} is a file, not a model folder (a training run writes "
                             "its model to <output_folder>/model/)")
    path = folder / hparams_file
    if not path.is_file():
        raise InferenceError(f"{folder} is not a sparse model folder: no {hparams_file} (a "
                             "training run writes its model to <output_folder>/model/)")
    # checked on the text, before HyperPyYAML builds anything (a training YAML would seed,
    # create folders and build its augmenter)
    if not re.search(r"^sparse_model:", _read_text(path), flags=re.MULTILINE):
        hint = f"; its model is in {folder / 'model'}" if (folder / "model" / hparams_file
                                                             ).is_file() else ""
        raise InferenceError(f"{folder} is not a sparse model folder: {hparams_file} is not a "
                             f"model description (no 'sparse_model' key){hint}")
    return folder


def check_folder_files(folder: Path, text: str, hparams_file: str = HPARAMS_FILE) -> ModelKind:
    """The kind of the folder whose description reads ``text``, once every file of it is there.

    Raises
    ------
    InferenceError
        If the kind is unknown, or naming every file of the kind that the folder lacks.
    """
    match = re.search(r"^kind:[ \t]*(\S*)", text, flags=re.MULTILINE)
    name = match.group(1).strip("'\"") if match else None
    if name not in KINDS:
        raise InferenceError(f"{folder / hparams_file}: unknown model kind {name!r}; expected "
                             f"one of {sorted(KINDS)}")
    kind = KINDS[name]
    needed = (hparams_file, *kind.files[1:])
    missing = [f for f in needed if not (folder / f).is_file()]
    if missing:
        raise InferenceError(
            f"model folder {folder} is incomplete: it lacks {', '.join(missing)} (a {name} model "
            f"needs {', '.join(needed)}; copy the whole <output_folder>/model/ folder of the "
            "training run)")
    return kind


def link_model_folder(folder: Path, savedir: str | Path, local_strategy=None) -> Path:
    """Put the folder's files into ``savedir``, as SpeechBrain's ``savedir`` does; return it.

    ``local_strategy`` (:class:`speechbrain.utils.fetching.LocalStrategy`, default
    ``SYMLINK``): symbolic links; copies (``COPY``, ``COPY_SKIP_CACHE``); or nothing
    (``NO_LINK``: the folder itself is returned).
    """
    from speechbrain.utils.fetching import LocalStrategy, link_with_strategy

    strategy = LocalStrategy.SYMLINK if local_strategy is None else local_strategy
    target = Path(savedir).expanduser()
    if strategy == LocalStrategy.NO_LINK or target.resolve() == folder.resolve():
        return folder
    try:
        target.mkdir(parents=True, exist_ok=True)
        for src in sorted(folder.iterdir()):
            if src.is_file():
                link_with_strategy(src.resolve(), target / src.name, strategy)
    except OSError as err:
        raise InferenceError(f"cannot put the model folder into savedir {target}: {err}") from err
    return target


def read_model_folder(
    source: str | Path,
    hparams_file: str = HPARAMS_FILE,
    overrides: Mapping[str, Any] | None = None,
    overrides_must_match: bool = True,
) -> dict[str, Any]:
    """Build the modules of a model folder and load their weights (on the CPU).

    Returns
    -------
    dict
        The loaded hyperparameters, with ``model_folder`` (the folder, a ``Path``) added.

    Raises
    ------
    InferenceError
        If it is not a model folder, lacks a file of its kind, its description does not
        parse or names a class this version lacks, an override names an unknown key, or a
        weight file does not fit. An error inside a module's constructor is not caught.
    """
    from hyperpyyaml import load_hyperpyyaml
    from hyperpyyaml.core import resolve_references
    from ruamel.yaml import YAMLError

    folder = check_model_folder(source, hparams_file)
    path = folder / hparams_file
    text = _read_text(path)
    kind = check_folder_files(folder, text, hparams_file)
    for old, new in MOVED_NAMES.items():  # tags such as !apply:<old> of older folders
        text = re.sub(rf"(![a-z]+:){re.escape(old)}\b", rf"\g<1>{new}", text)
    overrides = dict(overrides or {})
    try:  # the text alone (syntax, references, override keys): nothing is built yet
        resolve_references(text, overrides, overrides_must_match)
    except (YAMLError, KeyError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InferenceError(f"cannot read the model description {path}: {first}") from err
    try:  # a constructor's own error is a bug, or a bad override value: it keeps its traceback
        hparams = load_hyperpyyaml(text, overrides, overrides_must_match=overrides_must_match)
    except ImportError as err:
        raise InferenceError(f"{path} names a class this version of sparse does not have "
                             f"({err}); was the folder written by another version?") from err
    if not isinstance(hparams, dict) or "sparse_model" not in hparams:
        raise InferenceError(f"{path} is not a sparse model description (no 'sparse_model' key)")
    if int(hparams["sparse_model"]) > FORMAT_VERSION:
        raise InferenceError(f"{folder} was written by a newer sparse (format "
                             f"{hparams['sparse_model']} > {FORMAT_VERSION}); upgrade sparse")
    modules = hparams.get("modules") or {}
    absent = [k for k in (*kind.weighted, *kind.stateless) if k not in hparams]
    absent += [f"modules.{k}" for k in kind.weighted if k not in modules]
    if absent:
        raise InferenceError(f"{path} lacks the entries {', '.join(absent)} of a {kind.name} "
                             "model")
    for name, module in modules.items():
        load_module(module, folder / f"{name}.ckpt")
    hparams["model_folder"] = folder
    return hparams
