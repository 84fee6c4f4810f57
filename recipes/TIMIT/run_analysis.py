#!/usr/bin/env python3
"""Analyse a SPARSE TIMIT model trained by ``run_training.py``: figures and PAC statistics.

Usage (from the repository root, after training)::

    python recipes/TIMIT/run_analysis.py hparams/timit_analysis.yaml
    python recipes/TIMIT/run_analysis.py hparams/timit_analysis.yaml --data_folder=/path/to/TIMIT
    python recipes/TIMIT/run_analysis.py hparams/timit_analysis.yaml --manifest_folder=/data/mine

The training YAML named in the analysis YAML defines the model and the output folder; the
best checkpoint is loaded from it. The bundled sample is used exactly when training used it
(no ``--data_folder`` nor ``--manifest_folder``). Overrides of analysis keys apply to the
analysis YAML, all others to the training YAML (pass the overrides used for training). Results
go to
``<output_folder>/analysis/``: one PNG per figure, the report ``pac_significance.txt``, the
tables ``pac_contrast.csv`` and ``pac_significance.csv``, and the run's ``log.txt``.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import speechbrain as sb
import torch
from speechbrain.dataio.dataio import read_audio
from speechbrain.dataio.dataset import DynamicItemDataset
from speechbrain.utils.distributed import run_on_main

from sparse.analysis.brain import run_analysis
from sparse.data.timit import phone_segments
from sparse.recipe import load_analysis_hparams, run_recipe
from sparse.recipe.analysis import open_analysis_folder
from sparse.recipe.timit import data_root, make_label_encoder, prepare_data, uses_sample

logger = logging.getLogger(__name__)

#: The bundled speechocean762 sample (``run_training.py`` trains on it by default).
SAMPLE_FOLDER = Path(__file__).resolve().parent / "sample"

#: ``split`` of the analysis YAML -> the training YAML's manifest.
SPLITS = {"train": "train_annotation", "dev": "valid_annotation", "test": "test_annotation"}


def load_both(argv: list[str]) -> tuple[dict, dict, bool, dict]:
    """The analysis settings, the training hyperparameters, sample mode and run options."""
    hparams_file, run_opts, overrides = sb.parse_arguments(argv)
    cfg, train_hp, sample_mode = load_analysis_hparams(  # the sample rule of the training
        hparams_file, overrides, use_sample=uses_sample
    )
    train_hp["data_folder"] = data_root(train_hp, sample_mode, SAMPLE_FOLDER)
    return cfg, train_hp, sample_mode, run_opts


def utterances(train_hp: dict, cfg: dict) -> DynamicItemDataset:
    """The ``num_utterances`` longest utterances of the chosen split, longest first."""
    dataset = DynamicItemDataset.from_json(
        json_path=train_hp[SPLITS[cfg["split"]]],
        replacements={"data_root": str(train_hp["data_folder"])},
    )
    dataset = dataset.filtered_sorted(
        sort_key="duration", reverse=True, select_n=int(cfg["num_utterances"])
    )

    @sb.utils.data_pipeline.takes("wav")
    @sb.utils.data_pipeline.provides("sig")
    def audio_pipeline(wav: str) -> torch.Tensor:
        return read_audio(wav)

    sb.dataio.dataset.add_dynamic_item([dataset], audio_pipeline)
    sb.dataio.dataset.set_output_keys([dataset], ["id", "sig", "wav"])
    return dataset


def make_phone_fn(train_hp: dict, dataset):
    """Phone strip: reference .PHN timing if present, else the model's greedy CTC phones."""
    label_encoder = make_label_encoder(train_hp)
    wav_of = {uid: dataset.data[uid]["wav"].replace("{data_root}", str(train_hp["data_folder"]))
              for uid in dataset.data_ids}
    classifier, blank = train_hp["classifier"], train_hp["blank_index"]
    model = train_hp["model"]

    def phones(example, dt_s: float):
        ref = phone_segments(wav_of.get(example.id, ""), train_hp["sample_rate"])
        if ref is not None:
            return ref, "TIMIT phones (reference timing)"
        with torch.no_grad():
            logits = classifier(torch.as_tensor(example.outputs)[None].to(
                next(classifier.parameters()).device))[0]
        best = logits.argmax(-1).cpu().numpy()
        frame_s = model.pool_size * dt_s
        offset_s = model.spike_lag * dt_s
        segments, previous = [], blank
        for i, token in enumerate(best):
            if token != blank and token != previous:
                label = label_encoder.ind2lab[int(token)]
                segments.append((i * frame_s - offset_s, (i + 1) * frame_s - offset_s, label))
            previous = token
        title = "phones decoded by the model (greedy CTC; no reference timing found)"
        return segments, title + ("" if segments else ": the model emits only blanks")

    return phones


def main(argv: list[str] | None = None) -> None:
    """Load both YAMLs, check the checkpoint, analyse, write the report and figures."""
    argv = sys.argv[1:] if argv is None else argv
    cfg, train_hp, sample_mode, run_opts = load_both(argv)
    hparams_file, _, overrides = sb.parse_arguments(argv)
    open_analysis_folder(hparams_file, overrides, cfg, train_hp, SPLITS)
    if sample_mode:
        logger.info("no --data_folder nor --manifest_folder given: analysing the model trained "
                    "on the bundled sample")
    annotation = Path(train_hp["test_annotation"])
    if not annotation.is_file():
        run_on_main(prepare_data, kwargs={"hparams": train_hp, "sample_mode": sample_mode})
    dataset = utterances(train_hp, cfg)
    phones = make_phone_fn(train_hp, dataset)
    files = run_analysis(train_hp, cfg, dataset, run_opts, cfg["train_command"], phones)
    from sparse.inference.export import write_analysis_efficiency  # spikes -> operations, energy

    files.append(write_analysis_efficiency(train_hp, "asr", dataset))
    print("\n".join(str(f) for f in files))


if __name__ == "__main__":
    run_recipe(main, prog="run_analysis.py")
