#!/usr/bin/env python3
"""SpArch baselines on Google Speech Commands v0.02: 35 words (SC35) or the 12-class task.

Usage (from the repository root)::

    python recipes/SpeechCommands/run_sparch.py hparams/speech_commands_sparch.yaml \\
        --data_folder=/path/to/speech_commands_v0.02
    # 10 keywords + _unknown_ + _silence_, as the SPARSE KWS recipe
    python recipes/SpeechCommands/run_sparch.py hparams/speech_commands_sparch.yaml \\
        --data_folder=/path/to/speech_commands_v0.02 --prepare_task=kws12 \\
        --unknown_fraction=0.1 --silence_fraction=0.1 --nb_outputs=12
    python recipes/SpeechCommands/run_sparch.py hparams/speech_commands_sparch.yaml  # fixture

Data preparation is this recipe's own ``speech_commands_prepare.py`` with ``task="all"`` and
no ``_unknown_``/``_silence_`` classes: splits from the official ``validation_list.txt`` and
``testing_list.txt``, classes = the word folders in sorted order. Then 40 Kaldi log-mel bands
and a SpArch ``SNN``/``ANN`` (``sparse.models.training``), as for SHD, SSC and HD.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from speech_commands_prepare import SpeechCommandsLayoutError, prepare_speech_commands

from sparse.data import make_speech_commands_fixture, manifest_datasets
from sparse.models.training import SpArchBrain, run_sparch_recipe
from sparse.recipe_utils import RecipeError, run_recipe


def make_datasets(hparams: dict, data_folder: Path) -> dict:
    """Prepare the manifests (official lists) and build the feature datasets."""
    try:
        prepare_speech_commands(
            data_folder,
            hparams["manifest_folder"],
            task=hparams["prepare_task"],
            unknown_fraction=hparams["unknown_fraction"],
            silence_fraction=hparams["silence_fraction"],
            seed=hparams["seed"],
        )
    except SpeechCommandsLayoutError as err:
        raise RecipeError(str(err)) from err
    datasets, labels = manifest_datasets(hparams["manifest_folder"], data_folder, hparams["n_mels"])
    if len(labels) != hparams["nb_outputs"]:
        raise RecipeError(
            f"the data has {len(labels)} classes but nb_outputs is "
            f"{hparams['nb_outputs']}; pass --nb_outputs={len(labels)}"
        )
    return datasets


def main(argv: Sequence[str] | None = None) -> SpArchBrain:
    """Run the recipe; ``argv`` defaults to the command line."""
    return run_sparch_recipe(argv, make_speech_commands_fixture, make_datasets, "SpeechCommands")


if __name__ == "__main__":
    run_recipe(main, prog="recipes/SpeechCommands/run_sparch.py")
