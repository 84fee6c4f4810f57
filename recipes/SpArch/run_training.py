#!/usr/bin/env python3
"""Train and test a SpArch model (LIF/RLIF/adLIF/RadLIF/MLP/RNN/LiGRU/GRU) on SHD, SSC or HD.

Usage (from the repository root; the YAML's ``task`` key picks the data)::

    python recipes/SpArch/run_training.py hparams/shd_train.yaml --data_folder=/path/to/shd
    python recipes/SpArch/run_training.py hparams/ssc_train.yaml --data_folder=/path/to/ssc
    python recipes/SpArch/run_training.py hparams/hd_train.yaml --data_folder=/path/to/hd
    python recipes/SpArch/run_training.py hparams/shd_train.yaml   # tiny generated fixture

Every option is a key of the YAML and can be overridden, e.g. ``--model_type=adLIF
--nb_layers=4 --bidirectional=True --valid_protocol=test_as_valid``. See README.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sparse.data import hd_datasets, make_hd_fixture, make_spike_fixture, spike_datasets
from sparse.recipe import run_recipe
from sparse.recipe.sparch import SpArchBrain, SpArchTask, run_sparch_recipe


def spike_task(task: str) -> SpArchTask:
    """SHD or SSC: binned spike trains of the HDF5 files in the data folder."""

    def datasets(hparams: dict, data_folder: Path) -> dict:
        return spike_datasets(
            data_folder, task, hparams["nb_steps"], hparams["max_time"],
            hparams["valid_protocol"], hparams["valid_fraction"], hparams["valid_speakers"],
            hparams["seed"], hparams["binary_spikes"],
        )

    return SpArchTask(task.upper(), lambda folder: make_spike_fixture(folder, task), datasets)


def hd_audio_datasets(hparams: dict, data_folder: Path) -> dict:
    """HD: train / valid / test datasets of the audio folder (features computed on the fly)."""
    return hd_datasets(data_folder, hparams["valid_protocol"], hparams["valid_fraction"],
                       hparams["valid_speakers"], hparams["seed"], hparams["n_mels"])


#: The YAML's ``task`` -> how to get its data.
TASKS = {"shd": spike_task("shd"), "ssc": spike_task("ssc"),
         "hd": SpArchTask("HD", make_hd_fixture, hd_audio_datasets)}


def main(argv: Sequence[str] | None = None) -> SpArchBrain:
    """Run the recipe; ``argv`` defaults to the command line."""
    return run_sparch_recipe(argv, TASKS)


if __name__ == "__main__":
    run_recipe(main, prog="recipes/SpArch/run_training.py")
