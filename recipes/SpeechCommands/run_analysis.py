#!/usr/bin/env python3
"""Analyse a SPARSE keyword-spotting model trained by ``run_training.py``: figures and PAC.

Usage (from the repository root, after training)::

    python recipes/SpeechCommands/run_analysis.py hparams/speech_commands_analysis.yaml
    python recipes/SpeechCommands/run_analysis.py hparams/speech_commands_analysis.yaml \
        --data_folder=/data/speech_commands_v0.02

The training YAML named in the analysis YAML defines the model, the features and the output
folder (same sample-mode rule as training); its best checkpoint (lowest validation error) is
loaded. Overrides of keys of the analysis YAML apply to it, all others to the training YAML,
so pass the overrides used for training. Everything is written by the shared analysis
``Brain`` (``sparse.analysis``) to ``<output_folder>/analysis/``, with the run's ``log.txt``.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import speechbrain as sb
from speechbrain.dataio.dataset import DynamicItemDataset

from sparse.analysis.brain import run_analysis
from sparse.recipe import load_analysis_hparams, run_recipe
from sparse.recipe.analysis import open_analysis_folder
from sparse.recipe.speech_commands import clip_pipeline, prepare_data, uses_sample

#: The bundled FSDD digit sample (``run_training.py`` trains on it by default).
SAMPLE_FOLDER = Path(__file__).resolve().parent / "sample_fsdd"

#: ``split`` of the analysis YAML -> the training YAML's manifest.
SPLITS = {"train": "train_annotation", "valid": "valid_annotation", "test": "test_annotation"}


def balanced_clips(csv_path: str, n: int) -> list[str]:
    """Ids of ``n`` clips taken in turn from each label (manifest order within a label).

    Parameters
    ----------
    csv_path : str
        A manifest written by :mod:`sparse.data.speech_commands`.
    n : int
        Number of clips wanted.

    Returns
    -------
    list of str
        Clip ids, interleaved over labels (at most the manifest's size).
    """
    by_label: dict[str, list[str]] = {}
    with open(csv_path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            by_label.setdefault(row["label"], []).append(row["ID"])
    ids, queues = [], list(by_label.values())
    while len(ids) < n and any(queues):
        for queue in queues:
            if queue and len(ids) < n:
                ids.append(queue.pop(0))
    return ids


def clips(train_hp: dict, cfg: dict, data_folder: Path) -> DynamicItemDataset:
    """The analysed clips of the chosen split, with outputs ``id`` and ``sig``."""
    path = train_hp[SPLITS[cfg["split"]]]
    keep = set(balanced_clips(path, int(cfg["num_utterances"])))
    dataset = DynamicItemDataset.from_csv(path, replacements={"data_root": str(data_folder)})
    dataset = dataset.filtered_sorted(key_test={"id": lambda uid: uid in keep})
    sb.dataio.dataset.add_dynamic_item([dataset], clip_pipeline(train_hp))
    sb.dataio.dataset.set_output_keys([dataset], ["id", "sig"])
    return dataset


def main(argv: list[str] | None = None) -> None:
    """Load both YAMLs, prepare the manifests if needed, analyse, list the files written."""
    hparams_file, run_opts, overrides = sb.parse_arguments(sys.argv[1:] if argv is None else argv)
    cfg, train_hp, sample_mode = load_analysis_hparams(
        hparams_file, overrides, use_sample=uses_sample
    )
    open_analysis_folder(hparams_file, overrides, cfg, train_hp, SPLITS)
    data_folder = SAMPLE_FOLDER if sample_mode else Path(train_hp["data_folder"])
    prepare_data(train_hp, data_folder)  # no-op when the training run's manifests are current
    dataset = clips(train_hp, cfg, data_folder)
    files = run_analysis(train_hp, cfg, dataset, run_opts, cfg["train_command"])
    from sparse.inference.export import write_analysis_efficiency  # spikes -> operations, energy

    files.append(write_analysis_efficiency(train_hp, "kws", dataset))
    print("\n".join(str(f) for f in files))


if __name__ == "__main__":
    run_recipe(main, prog="run_analysis.py")
