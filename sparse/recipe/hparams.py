"""Recipe hyperparameters: HyperPyYAML with checked command-line overrides and a sample block.

:func:`load_recipe_hparams` loads a HyperPyYAML file with command-line overrides, checks the
overrides (unknown keys with a suggestion, wrong types), and applies an optional ``sample:``
block of keys used when the bundled sample corpus replaces the real one;
:func:`recipe_overrides` gives the override text it applied (for the run's saved
``hyperparams.yaml``). :func:`load_analysis_hparams` loads an analysis YAML together with the
training YAML it names, so that the two cannot drift.
"""

from __future__ import annotations

import difflib
import re
import traceback
import warnings
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from .errors import RecipeError

__all__ = ["RENAMED_KEYS", "override_keys", "check_override_types", "recipe_overrides",
           "load_recipe_hparams", "split_overrides", "load_analysis_hparams"]

#: Old key -> current key. An override of an old key is read as the current one (with a
#: FutureWarning) when the YAML defines the current key only.
RENAMED_KEYS = {"nb_epochs": "number_of_epochs"}


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
    """Load HyperPyYAML (objects built); a mistake in the YAML or an override is a RecipeError.

    Only what :func:`_yaml_mistake` recognises is translated: an error raised while a
    constructor or an ``!apply:`` function runs keeps its traceback (a bug, or a value the
    object refuses with its own message).
    """
    from hyperpyyaml import load_hyperpyyaml

    try:
        with open(path, encoding="utf-8") as stream:
            return load_hyperpyyaml(stream, overrides)
    except Exception as err:
        mistake = _yaml_mistake(err)
        if mistake is None:
            raise
        given = f" (overrides: {', '.join('--' + k for k in user_keys)})" if user_keys else ""
        raise RecipeError(f"{path}{given}: {mistake}") from err


def _yaml_mistake(err: BaseException) -> str | None:
    """One line for a mistake in YAML text or overrides; None for anything else.

    Recognised: YAML syntax (ruamel's errors); what HyperPyYAML raises itself about the text (an
    unknown override key, a reference to no key, a ``!PLACEHOLDER`` left, a tag naming nothing
    or the wrong kind of object): the error's innermost frame is one of its ``raise``
    statements; and arguments that a class or function named by a tag does not take: a
    ``TypeError`` raised by the call itself, in HyperPyYAML's frame. Whatever a constructor or
    an ``!apply:`` function raises while it runs has its innermost frame in that code (or is
    not a TypeError of the call) and is not recognised.
    """
    if "yaml" in type(err).__module__ and "hyperpyyaml" not in type(err).__module__:
        return "YAML syntax: " + " ".join(str(err).split())
    frames = traceback.extract_tb(err.__traceback__)
    if not frames or Path(frames[-1].filename).parent.name != "hyperpyyaml":
        return None
    own_raise = (frames[-1].line or "").startswith("raise")
    if not (own_raise and isinstance(err, (ValueError, KeyError, TypeError, ImportError))
            or isinstance(err, TypeError)):
        return None
    parts = [str(a) for a in err.args] if isinstance(err, (TypeError, KeyError)) else [str(err)]
    return ": ".join(" ".join(part.split()) for part in parts if part)


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


def _override_error(path: Path, message: str, mistake: str) -> str:
    """One line for a YAML text or override HyperPyYAML rejected (``mistake``: its description)."""
    unknown = re.search(r"Override '([^']+)' not found in: (\[.*\])", message)
    if unknown:
        key = unknown.group(1)
        known = re.findall(r"'([^']+)'", unknown.group(2))
        close = difflib.get_close_matches(key, known, n=3)
        hint = f"; did you mean {', '.join('--' + k for k in close)}?" if close else ""
        return f"unknown hyperparameter --{key} (not a key of {path}){hint}"
    if mistake.startswith("YAML syntax"):
        return f"cannot parse {path} or an override: {mistake}"
    return f"bad hyperparameter or override in {path}: {mistake}"


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
    except Exception as err:
        mistake = _yaml_mistake(err)
        if mistake is None:
            raise
        raise RecipeError(_override_error(path, str(err), mistake)) from err


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
    defaults = _plain_view(path, "")
    overrides = _rename_old_keys(overrides or "", defaults)
    user_keys = override_keys(overrides)
    plain = _plain_view(path, overrides)
    if user_keys:
        check_override_types(defaults, plain, user_keys)
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


def _rename_old_keys(overrides: str, defaults: Mapping[str, Any]) -> str:
    """Override text with every old key of :data:`RENAMED_KEYS` under its current name.

    Only where the YAML defines the current key and not the old one (an old copy of a YAML
    keeps its own keys); each renaming warns once with a FutureWarning.
    """
    given = override_keys(overrides)
    for old, new in RENAMED_KEYS.items():
        if old not in given or old in defaults or new not in defaults:
            continue
        if new in given:
            raise RecipeError(f"--{old} and --{new} name the same setting; give --{new} only")
        warnings.warn(f"--{old} is deprecated: use --{new} (the name SpeechBrain and every "
                      f"recipe YAML use); read as --{new} this time", FutureWarning, stacklevel=3)
        overrides = re.sub(rf"^{old}(\s*:)", rf"{new}\1", overrides, flags=re.MULTILINE)
    return overrides


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

    try:
        values = (yaml.safe_load(overrides) if overrides else None) or {}
    except yaml.YAMLError as err:
        raise RecipeError("cannot parse the overrides: " + " ".join(str(err).split())) from err
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
    path = Path(analysis_file)
    if not path.is_file():
        raise RecipeError(f"hyperparameter file not found: {path}")
    mine, theirs = split_overrides(overrides, set(_plain_view(path, "")))
    analysis = _load_yaml(path, mine, override_keys(mine))
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
