"""Small helpers shared by the training recipes (TIMIT, Speech Commands, ...).

Everything here is generic: nothing knows about a particular corpus.

* :class:`RecipeError` and :func:`run_recipe` turn problems a user can fix (missing data, a bad
  override, an unreadable audio file) into one clear line on stderr and a non-zero exit code,
  instead of a traceback wall.
* :func:`load_recipe_hparams` loads a HyperPyYAML file with command-line overrides, checks the
  overrides, and applies an optional ``sample:`` block of keys used when the bundled sample
  corpus replaces the real one; :func:`recipe_overrides` gives the override text it applied
  (for the run's saved ``hyperparams.yaml``).
* :func:`white_noise_like`, :func:`pink_noise_like` and :func:`generated_noise_like` make noise
  for SpeechBrain's ``AddNoise(noise_funct=...)``, so augmentation needs no noise download.
* :func:`check_audio_files` decodes a manifest's audio up front (every file, every sample; files
  already checked are cached) and names every bad file at once.
* :class:`FiringRateMeter` averages per-population firing rates over an epoch for logging.
* :func:`set_aside_incomplete_checkpoints` and :func:`wrap_ddp_cpu` work around two SpeechBrain
  1.1.2 gaps (a kill while saving; DDP on CPU).
"""

from __future__ import annotations

import difflib
import logging
import math
import os
import re
import sys
import zipfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, NoReturn

import torch

__all__ = [
    "RecipeError",
    "run_recipe",
    "override_keys",
    "load_recipe_hparams",
    "recipe_overrides",
    "check_override_types",
    "white_noise_like",
    "pink_noise_like",
    "generated_noise_like",
    "audio_file_problem",
    "check_audio_files",
    "FiringRateMeter",
    "checkpoint_is_complete",
    "close_process_group",
    "set_aside_incomplete_checkpoints",
    "SkipIncompleteCheckpoints",
    "wrap_ddp_cpu",
]

EXIT_CODE_USER_ERROR = 2

logger = logging.getLogger(__name__)


class RecipeError(Exception):
    """A problem the user can fix (data, paths, configuration).

    :func:`run_recipe` prints its message as one line and exits with status 2, without a
    traceback. Raise it with a message that names the offending file, key or value.
    """


def _first_meaningful_line(message: str) -> str:
    """Strip DataLoader-worker decoration from a re-raised :class:`RecipeError` message.

    PyTorch re-raises a worker's exception with the worker traceback glued into the message;
    the original message is its last non-empty line.
    """
    if "Traceback" not in message:
        return message.strip()
    lines = [line for line in message.splitlines() if line.strip()]
    last = lines[-1] if lines else message
    return re.sub(r"^\s*[\w.]*RecipeError:\s*", "", last).strip()


def run_recipe(main: Callable[[], Any], *, prog: str = "recipe") -> None:
    """Run ``main()``; report a :class:`RecipeError` as one line and exit with status 2.

    Other exceptions are real bugs and propagate with their traceback.

    Parameters
    ----------
    main : callable
        The recipe's entry point, called without arguments.
    prog : str
        Name printed in front of the message.
    """
    try:
        main()
    except RecipeError as err:
        print(f"{prog}: error: {_first_meaningful_line(str(err))}", file=sys.stderr)
        sys.exit(EXIT_CODE_USER_ERROR)
    if close_process_group() and "LOCAL_RANK" in os.environ:  # a torchrun worker
        _exit_without_teardown()


def close_process_group() -> bool:
    """Wait for every process, then destroy the default process group, if there is one.

    Returns whether there was one.
    """
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return False
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()
    return True


def _exit_without_teardown() -> NoReturn:
    """End a finished torchrun worker with status 0, skipping the interpreter's teardown.

    Two-process CPU (gloo) runs were seen to abort in that teardown, after every output was
    written: ``terminate called without an active exception`` (SIGABRT) on the main thread,
    with no Python frame left, in about one run of ten to twenty under load, with or
    without the process group destroyed. torchrun then reports the run as failed and stops
    the other ranks, which may still be writing. Logs and streams are flushed first.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def override_keys(overrides: str | Mapping[str, Any] | None) -> list[str]:
    """Top-level keys named by a command-line override string or mapping.

    Parameters
    ----------
    overrides : str or mapping or None
        As returned by ``speechbrain.parse_arguments`` (YAML text, one ``key: value`` per line).

    Returns
    -------
    list of str
        The keys, in order.

    Examples
    --------
    >>> override_keys("lr: 0.1\\nbatch_size: 4")
    ['lr', 'batch_size']
    """
    if not overrides:
        return []
    if isinstance(overrides, Mapping):
        return list(overrides)
    return re.findall(r"^([A-Za-z_][\w.-]*)\s*:", overrides, flags=re.MULTILINE)


def _load_yaml(path: Path, overrides: str, user_keys: list[str] | None = None) -> dict[str, Any]:
    """Load HyperPyYAML, turning a failure to build an object into a :class:`RecipeError`."""
    from hyperpyyaml import load_hyperpyyaml

    try:
        with open(path, encoding="utf-8") as stream:
            return load_hyperpyyaml(stream, overrides)
    except (ValueError, KeyError, TypeError, AttributeError, ImportError) as err:
        raise RecipeError(
            f"cannot build the objects of {path} (overrides: {user_keys or 'none'}): "
            f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err) else ''}"
        ) from err
    except Exception as err:  # ruamel / yaml syntax errors have many classes
        if "yaml" in type(err).__module__:
            raise RecipeError(f"cannot parse {path} or an override: {err}") from err
        raise


def check_override_types(
    defaults: Mapping[str, Any], hparams: Mapping[str, Any], keys: Iterable[str]
) -> None:
    """Reject overrides whose value type does not fit the YAML default.

    A number or boolean key overridden by text (``--lr=fast``) would otherwise fail deep inside
    training. ``int`` may replace ``float`` and ``None`` is always accepted.

    Parameters
    ----------
    defaults : mapping
        Hyperparameters loaded without overrides.
    hparams : mapping
        Hyperparameters loaded with overrides.
    keys : iterable of str
        The overridden keys.

    Raises
    ------
    RecipeError
        Naming the key, the value given and the type expected.
    """
    for key in keys:
        if key not in defaults or key not in hparams:
            continue
        old, new = defaults[key], hparams[key]
        if old is None or new is None:
            continue
        expected: tuple[type, ...] = (type(old),)
        if isinstance(old, bool):
            expected = (bool,)
        elif isinstance(old, (int, float)):
            expected = (int, float)
        if isinstance(new, bool) and not isinstance(old, bool):
            raise RecipeError(f"override --{key}={new!r}: expected {type(old).__name__}")
        if isinstance(old, (bool, int, float, str)) and not isinstance(new, expected):
            raise RecipeError(
                f"override --{key}={new!r}: expected {type(old).__name__} "
                f"like the default {old!r}"
            )


def _override_error(path: Path, message: str, kind: str) -> str:
    """One-line description of an override HyperPyYAML rejected."""
    unknown = re.search(r"Override '([^']+)' not found in: (\[.*\])", message)
    if unknown:
        key = unknown.group(1)
        known = re.findall(r"'([^']+)'", unknown.group(2))
        close = difflib.get_close_matches(key, known, n=3)
        hint = f"; did you mean {', '.join('--' + k for k in close)}?" if close else ""
        return f"unknown hyperparameter --{key} (not a key of {path}){hint}"
    first = message.strip().splitlines()[0] if message.strip() else kind
    return f"bad hyperparameter override for {path}: {first}"


def _plain_view(path: Path, overrides: str) -> dict[str, Any]:
    """The YAML with references and overrides resolved but no object built (tags become None).

    Used to decide on the sample block and to check override types without instantiating the
    model or creating output folders.
    """
    import ruamel.yaml
    from hyperpyyaml.core import resolve_references

    class _Constructor(ruamel.yaml.constructor.SafeConstructor):
        pass

    _Constructor.add_multi_constructor("!", lambda loader, suffix, node: None)
    try:
        with open(path, encoding="utf-8") as stream:
            text = resolve_references(stream, overrides, overrides_must_match=True).getvalue()
        yaml = ruamel.yaml.YAML(typ="safe", pure=True)
        yaml.Constructor = _Constructor
        return dict(yaml.load(text) or {})
    except (ValueError, KeyError, TypeError) as err:
        raise RecipeError(_override_error(path, str(err), type(err).__name__)) from err
    except Exception as err:  # ruamel's parser and scanner errors
        if "yaml" in type(err).__module__:
            flat = " ".join(str(err).split())
            raise RecipeError(f"cannot parse {path} or an override: {flat}") from err
        raise


def recipe_overrides(
    hparams_file: str | Path,
    overrides: str | None = None,
    *,
    use_sample: Callable[[Mapping[str, Any]], bool] | None = None,
    sample_key: str = "sample",
) -> tuple[str, bool]:
    """The override text a run applies: its sample block (when it applies) under the command line.

    This is what :func:`load_recipe_hparams` loads the YAML with; pass it to
    ``speechbrain.create_experiment_directory(overrides=...)`` so that the saved
    ``hyperparams.yaml`` records the values the run used, not the file's top-level ones.

    Parameters
    ----------
    hparams_file, overrides, use_sample, sample_key
        As for :func:`load_recipe_hparams`.

    Returns
    -------
    text : str
        YAML override text: the sample block's keys not given on the command line, then the
        command-line overrides.
    sample_mode : bool
        Whether the sample block was applied.

    Raises
    ------
    RecipeError
        On a missing file, an unknown key, a YAML error or a wrongly typed override.
    """
    path = Path(hparams_file)
    if not path.is_file():
        raise RecipeError(f"hyperparameter file not found: {path}")
    overrides = overrides or ""
    user_keys = override_keys(overrides)
    plain = _plain_view(path, overrides)
    if user_keys:
        check_override_types(_plain_view(path, ""), plain, user_keys)
    sample_mode = bool(use_sample is not None and use_sample(plain))
    if sample_mode:
        block = dict(plain.get(sample_key) or {})
        unknown = sorted(set(block) - set(plain))
        if unknown:
            raise RecipeError(
                f"{path}: keys of '{sample_key}:' not defined at top level: {unknown}"
            )
        merged = {k: v for k, v in block.items() if k not in user_keys}
        text = "\n".join(f"{k}: {_yaml_scalar(v)}" for k, v in merged.items())
        overrides = "\n".join(filter(None, [text, overrides]))
    return overrides, sample_mode


def load_recipe_hparams(
    hparams_file: str | Path,
    overrides: str | None = None,
    *,
    use_sample: Callable[[Mapping[str, Any]], bool] | None = None,
    sample_key: str = "sample",
) -> tuple[dict[str, Any], bool]:
    """Load a recipe YAML with overrides, applying its sample block when asked.

    Precedence, lowest first: the YAML value, the value in the ``sample_key`` block (only when
    ``use_sample(plain_hparams)`` is true), the command line. Decisions and type checks are made
    on a plain view of the file, so objects are built once, with the final values (the override
    text is :func:`recipe_overrides`).

    Parameters
    ----------
    hparams_file : str or Path
        The HyperPyYAML file.
    overrides : str, optional
        Override text from ``speechbrain.parse_arguments``.
    use_sample : callable, optional
        Decides from the plain hyperparameters whether the sample block applies (e.g. "no data
        folder"). Tagged values (``!new:`` ...) appear as None there.
    sample_key : str
        Name of the block; its values may use ``!ref`` and are resolved before being applied.

    Returns
    -------
    hparams : dict
        The loaded hyperparameters (objects instantiated).
    sample_mode : bool
        Whether the sample block was applied.

    Raises
    ------
    RecipeError
        On a missing file, an unknown key, a YAML error or a wrongly typed override.
    """
    text, sample_mode = recipe_overrides(
        hparams_file, overrides, use_sample=use_sample, sample_key=sample_key
    )
    return _load_yaml(Path(hparams_file), text, override_keys(overrides or "")), sample_mode


def split_overrides(overrides: str | None, first_keys: set[str]) -> tuple[str, str]:
    r"""Split command-line override text into (overrides of ``first_keys``, all other overrides).

    Examples
    --------
    >>> split_overrides("a: 1\nb: [2, 3]", {"a"})
    ('a: 1', 'b: [2, 3]')
    """
    import json

    import yaml

    values = (yaml.safe_load(overrides) if overrides else None) or {}
    first = {k: v for k, v in values.items() if k in first_keys}
    rest = {k: v for k, v in values.items() if k not in first_keys}
    return tuple("\n".join(f"{k}: {json.dumps(v)}" for k, v in d.items()) for d in (first, rest))


def load_analysis_hparams(
    analysis_file: str | Path,
    overrides: str | None = None,
    *,
    use_sample: Callable[[Mapping[str, Any]], bool] | None = None,
) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """Load an analysis YAML and the training YAML it names, so the two cannot drift.

    The analysis YAML names its training YAML in ``train_hparams`` (relative to itself).
    Overrides of keys of the analysis YAML apply to it; all others go to the training YAML,
    which is loaded by :func:`load_recipe_hparams` with the same sample-mode rule as training.

    Returns
    -------
    analysis : dict
        The analysis hyperparameters.
    train : dict
        The training hyperparameters (model, features, output folder).
    sample_mode : bool
        Whether the training YAML's sample block was applied.
    """
    from hyperpyyaml import load_hyperpyyaml

    path = Path(analysis_file)
    if not path.is_file():
        raise RecipeError(f"hyperparameter file not found: {path}")
    with open(path, encoding="utf-8") as fin:
        mine, theirs = split_overrides(overrides, set(load_hyperpyyaml(fin)))
    with open(path, encoding="utf-8") as fin:
        analysis = load_hyperpyyaml(fin, mine)
    train_file = path.parent / analysis["train_hparams"]
    if train_file.is_file():  # a key of neither file: name both, suggest from both
        known = set(_plain_view(train_file, "")) | set(analysis)
        for key in override_keys(theirs):
            if key not in known:
                close = difflib.get_close_matches(key, sorted(known), n=3)
                hint = f"; did you mean {', '.join('--' + k for k in close)}?" if close else ""
                raise RecipeError(f"unknown hyperparameter --{key} (not a key of {path} nor of "
                                  f"its training YAML {train_file}){hint}")
    train, sample_mode = load_recipe_hparams(train_file, theirs, use_sample=use_sample)
    return analysis, train, sample_mode


def _yaml_scalar(value: Any) -> str:
    """Write a plain value (number, bool, str, None, list) as inline YAML."""
    import json

    if isinstance(value, (bool, int, float, str)) or value is None:
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_yaml_scalar(v) for v in value) + "]"
    raise RecipeError(f"sample block value {value!r} must be a number, string, bool or list")


def white_noise_like(waveforms: torch.Tensor) -> torch.Tensor:
    """Gaussian white noise with the shape of ``waveforms``.

    Parameters
    ----------
    waveforms : torch.Tensor
        Shape (batch, samples) or (batch, samples, channels).

    Returns
    -------
    torch.Tensor
        Same shape, unit variance (``AddNoise`` rescales it to the drawn SNR).

    Examples
    --------
    >>> white_noise_like(torch.zeros(2, 100)).shape
    torch.Size([2, 100])
    """
    return torch.randn_like(waveforms)


def pink_noise_like(waveforms: torch.Tensor) -> torch.Tensor:
    """Pink (1/f power) noise with the shape of ``waveforms``, made by spectral shaping.

    White Gaussian noise is transformed with an FFT along time, each bin scaled by
    ``1/sqrt(f)`` (DC removed) and transformed back, then normalised to unit variance per row.

    Parameters
    ----------
    waveforms : torch.Tensor
        Shape (batch, samples) or (batch, samples, channels); time is dimension 1.

    Returns
    -------
    torch.Tensor
        Same shape and dtype, unit variance per row.

    Examples
    --------
    >>> pink_noise_like(torch.zeros(3, 400, 2)).shape
    torch.Size([3, 400, 2])
    """
    n = waveforms.shape[1]
    white = torch.randn(waveforms.shape, device=waveforms.device, dtype=torch.float32)
    spectrum = torch.fft.rfft(white, dim=1)
    freqs = torch.arange(spectrum.shape[1], device=waveforms.device, dtype=torch.float32)
    scale = torch.where(freqs > 0, freqs.clamp(min=1.0).rsqrt(), torch.zeros_like(freqs))
    shape = [1] * spectrum.dim()
    shape[1] = -1
    pink = torch.fft.irfft(spectrum * scale.view(shape), n=n, dim=1)
    pink = pink / pink.std(dim=1, keepdim=True).clamp(min=1e-8)
    return pink.to(waveforms.dtype)


def generated_noise_like(waveforms: torch.Tensor, pink_probability: float = 0.5) -> torch.Tensor:
    """Per-row mix of white and pink noise, for ``AddNoise(noise_funct=...)``.

    Parameters
    ----------
    waveforms : torch.Tensor
        Shape (batch, samples[, channels]).
    pink_probability : float
        Probability in [0, 1] that a row gets pink rather than white noise.

    Returns
    -------
    torch.Tensor
        Same shape as ``waveforms``.

    Examples
    --------
    >>> generated_noise_like(torch.zeros(4, 160), pink_probability=1.0).shape
    torch.Size([4, 160])
    """
    if not 0.0 <= pink_probability <= 1.0:
        raise ValueError(f"pink_probability must be in [0, 1], got {pink_probability}")
    choose_pink = torch.rand(waveforms.shape[0], device=waveforms.device) < pink_probability
    choose_pink = choose_pink.view([-1] + [1] * (waveforms.dim() - 1))
    return torch.where(choose_pink, pink_noise_like(waveforms), white_noise_like(waveforms))


#: Version of the records :func:`check_audio_files` caches (bump when the checks change).
AUDIO_CHECK_VERSION = 1


def audio_file_problem(path: str | Path, sample_rate: int | None = None,
                       decode: bool = True) -> tuple[str | None, dict | None]:
    """Why an audio file cannot be used, by reading its header and (optionally) every sample.

    Parameters
    ----------
    path : str or Path
        The audio file.
    sample_rate : int, optional
        Required sampling rate in Hz.
    decode : bool
        Decode the whole file, not only its header: a truncated or damaged FLAC has a
        valid header and fails only when its last frames are read.

    Returns
    -------
    problem : str or None
        ``None`` if the file is usable, else a short reason ("not found", "is empty", ...).
    record : dict or None
        For a usable file, what :func:`check_audio_files` caches: ``size`` (bytes),
        ``mtime_ns``, ``rate`` (Hz), ``frames``, ``decoded``.
    """
    import numpy as np
    import soundfile

    path = Path(path)
    if not path.is_file():
        return "not found", None
    stat = path.stat()
    try:
        info = soundfile.info(str(path))
    except Exception as err:  # libsndfile raises several error classes
        return f"is corrupt or unreadable ({err})", None
    if info.frames <= 0:
        return "is empty", None
    if sample_rate is not None and info.samplerate != sample_rate:
        return f"has {info.samplerate} Hz, expected {sample_rate} Hz", None
    if decode:
        frames = 0
        try:
            for block in soundfile.blocks(str(path), blocksize=1 << 16, dtype="float32"):
                if not np.isfinite(block).all():
                    return "holds non-finite samples", None
                frames += len(block)
        except Exception as err:
            return f"is corrupt or unreadable ({' '.join(str(err).split())})", None
        if frames != info.frames:
            return f"is truncated (decoded {frames} of {info.frames} frames)", None
    record = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "rate": info.samplerate,
              "frames": info.frames, "decoded": bool(decode)}
    return None, record


def _load_audio_cache(cache_file: Path | None) -> dict[str, dict]:
    """Records of files that passed :func:`check_audio_files` before ({} if none or stale)."""
    import json

    if cache_file is None or not cache_file.is_file():
        return {}
    try:
        content = json.loads(cache_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(content, dict) or content.get("version") != AUDIO_CHECK_VERSION:
        return {}
    files = content.get("files")
    return files if isinstance(files, dict) else {}


def _save_audio_cache(cache_file: Path, records: dict[str, dict]) -> None:
    """Write the cache atomically (a kill never leaves half a file)."""
    import json

    cache_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache_file.with_name(cache_file.name + ".tmp")
    tmp.write_text(json.dumps({"version": AUDIO_CHECK_VERSION, "files": records}, indent=1),
                   encoding="utf-8")
    tmp.replace(cache_file)


def _still_valid(record: dict | None, path: Path, sample_rate: int | None, decode: bool) -> bool:
    """Whether a cached record still describes ``path`` (same size and time, checks as strict)."""
    if not record or (decode and not record.get("decoded")):
        return False
    if sample_rate is not None and record.get("rate") != sample_rate:
        return False
    try:
        stat = path.stat()
    except OSError:
        return False
    return record.get("size") == stat.st_size and record.get("mtime_ns") == stat.st_mtime_ns


def check_audio_files(
    wav_paths: Mapping[str, str],
    *,
    sample_rate: int | None = None,
    where: str = "manifest",
    decode: bool = True,
    cache_file: str | Path | None = None,
) -> None:
    """Check that every audio file exists, is at the right rate and decodes to its last sample.

    Every file is checked (see :func:`audio_file_problem`) before any error is raised, so the
    error names all bad files at once. Files that passed are recorded in ``cache_file``
    (keyed by absolute path, with size and modification time), so a second run only reads
    new or changed files.

    Parameters
    ----------
    wav_paths : mapping of str to str
        Utterance id to resolved audio path.
    sample_rate : int, optional
        Required sampling rate in Hz.
    where : str
        Name of the manifest, used in messages.
    decode : bool
        Decode every sample (default), or read headers only.
    cache_file : str or Path, optional
        JSON file of files already checked, e.g. ``<save_folder>/audio_check.json``.

    Raises
    ------
    RecipeError
        One line naming the file if one is bad; otherwise a first line with the count and one
        line per bad file (utterance id, path, reason).
    """
    from tqdm import tqdm

    cache_path = Path(cache_file) if cache_file is not None else None
    cache = _load_audio_cache(cache_path)
    todo = []
    for utt_id, wav in wav_paths.items():
        key = os.path.abspath(wav)
        if not _still_valid(cache.get(key), Path(key), sample_rate, decode):
            todo.append((utt_id, wav, key))
    bad = []
    show = decode and len(todo) > 100
    for utt_id, wav, key in tqdm(todo, desc=f"checking audio of {where}", disable=not show):
        problem, record = audio_file_problem(key, sample_rate, decode)
        if problem is None:
            cache[key] = record
        else:
            cache.pop(key, None)
            bad.append((utt_id, wav, problem))
    if cache_path is not None and todo:
        _save_audio_cache(cache_path, cache)
    if len(bad) == 1:
        utt_id, wav, problem = bad[0]
        reason, _, detail = problem.partition(" (")
        detail = f" ({detail}" if detail else ""
        raise RecipeError(f"{where}: audio file of '{utt_id}' {reason}: {wav}{detail}")
    if bad:
        lines = [f"  '{utt_id}' {problem}: {wav}" for utt_id, wav, problem in bad]
        raise RecipeError(
            f"{where}: {len(bad)} of {len(wav_paths)} audio files cannot be used "
            "(fix or remove them, then run again):\n" + "\n".join(lines)
        )


class FiringRateMeter:
    """Running, weighted mean of each population's mean firing rate (Hz) over an epoch.

    Examples
    --------
    >>> meter = FiringRateMeter()
    >>> meter.update({"nerve": 10.0, "cortex1": 4.0}, weight=2)
    >>> meter.update({"nerve": 20.0, "cortex1": 1.0}, weight=1)
    >>> {k: round(v, 3) for k, v in meter.summary(prefix="rate_").items()}
    {'rate_nerve': 13.333, 'rate_cortex1': 3.0}
    """

    def __init__(self) -> None:
        self._sums: dict[str, float] = {}
        self._weight: dict[str, float] = {}

    def update(self, rates_hz: Mapping[str, float | torch.Tensor], weight: float = 1.0) -> None:
        """Add one batch: population name to mean rate (Hz), weighted (e.g. by batch size)."""
        for name, rate in rates_hz.items():
            value = float(rate.detach().mean()) if isinstance(rate, torch.Tensor) else float(rate)
            if math.isfinite(value):
                self._sums[name] = self._sums.get(name, 0.0) + weight * value
                self._weight[name] = self._weight.get(name, 0.0) + weight

    def summary(self, prefix: str = "") -> dict[str, float]:
        """Mean rate per population, in Hz, keyed ``prefix + name``."""
        return {prefix + k: self._sums[k] / self._weight[k] for k in self._sums}


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


def wrap_ddp_cpu(modules: torch.nn.ModuleDict, *, find_unused_parameters: bool = False) -> None:
    """Wrap trainable modules in DDP for CPU (gloo) without converting BatchNorm.

    SpeechBrain 1.1.2 turns every BatchNorm into ``SyncBatchNorm`` under DDP, which PyTorch runs
    on GPUs only; on CPU each process keeps its own batch statistics instead. Use it from a
    ``Brain._wrap_distributed`` override when ``torch.device(self.device).type == "cpu"``.

    Parameters
    ----------
    modules : torch.nn.ModuleDict
        ``Brain.modules``; entries with trainable parameters are replaced in place.
    find_unused_parameters : bool
        Passed to ``DistributedDataParallel``.
    """
    for name, module in modules.items():
        if any(p.requires_grad for p in module.parameters()):
            modules[name] = torch.nn.parallel.DistributedDataParallel(
                module, device_ids=None, find_unused_parameters=find_unused_parameters
            )
