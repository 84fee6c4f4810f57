"""The start every training recipe shares: command line, YAML with its sample block, experiment.

::

    run = load_recipe(argv, use_sample=uses_sample)     # parse, check, load (sample block)
    start_experiment(run)                               # threads, DDP, <output_folder>/

:func:`load_recipe` applies the YAML's ``sample:`` block one way for every recipe (through
:func:`~.hparams.recipe_overrides`: the block's values under the command line's), and
:func:`start_experiment` records the values the run uses, the block's included, in
``<output_folder>/hyperparams.yaml``. It also joins the process group of a ``torchrun`` launch,
so that every recipe trains under ``torchrun --nproc_per_node=N`` (with ``--device=cpu
--distributed_backend=gloo`` on CPUs).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .hparams import _load_yaml, override_keys, recipe_overrides

__all__ = ["RecipeRun", "load_recipe", "start_experiment"]


@dataclass
class RecipeRun:
    """A recipe's command line, resolved.

    Attributes
    ----------
    hparams_file : str
        The YAML named on the command line.
    run_opts : dict
        SpeechBrain's run options (``--device``, ``--distributed_backend``, ...).
    overrides : str
        The override text the run applied: the sample block's values (when it applies) that
        the command line does not set, then the command line's. ``hyperparams.yaml`` records it.
    hparams : dict
        The loaded hyperparameters (objects built with the final values).
    sample_mode : bool
        Whether the sample block was applied.
    """

    hparams_file: str
    run_opts: dict
    overrides: str
    hparams: dict
    sample_mode: bool


def load_recipe(
    argv: Sequence[str] | None = None,
    *,
    use_sample: Callable[[Mapping[str, Any]], bool] | None = None,
) -> RecipeRun:
    """Parse a recipe's command line and load its YAML, with the sample block where it applies.

    Parameters
    ----------
    argv : sequence of str, optional
        The command line without the program name (``sys.argv[1:]`` when ``None``).
    use_sample : callable, optional
        Decides from the plain hyperparameters (objects not built) whether the YAML's
        ``sample:`` block applies, e.g. "no data folder given".

    Raises
    ------
    sparse.errors.RecipeError
        On a missing YAML, an unknown key, a YAML syntax error or a wrongly typed override.
    """
    import speechbrain as sb

    hparams_file, run_opts, overrides = sb.parse_arguments(
        list(sys.argv[1:] if argv is None else argv))
    effective, sample_mode = recipe_overrides(hparams_file, overrides, use_sample=use_sample)
    hparams = _load_yaml(Path(hparams_file), effective, override_keys(overrides))
    return RecipeRun(hparams_file, run_opts, effective, hparams, sample_mode)


def start_experiment(run: RecipeRun, recorded: Mapping[str, Any] | None = None) -> None:
    """Set the threads, join a ``torchrun`` process group, create ``<output_folder>/``.

    Parameters
    ----------
    run : RecipeRun
        From :func:`load_recipe`; ``hparams["num_threads"]`` (if set) fixes PyTorch's CPU
        threads.
    recorded : mapping, optional
        Values the recipe decided after loading (e.g. the bundled sample's folder as
        ``data_folder``), added to ``hyperparams.yaml`` unless the command line set them.
    """
    import speechbrain as sb

    if run.hparams.get("num_threads"):
        torch.set_num_threads(int(run.hparams["num_threads"]))
    sb.utils.distributed.ddp_init_group(run.run_opts)
    given = set(override_keys(run.overrides))
    extra = [f"{key}: {json.dumps(value)}" for key, value in (recorded or {}).items()
             if key not in given]
    sb.create_experiment_directory(
        experiment_directory=run.hparams["output_folder"],
        hyperparams_to_save=run.hparams_file,
        overrides="\n".join(filter(None, [run.overrides, *extra])),
    )
