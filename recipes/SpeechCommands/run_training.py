#!/usr/bin/env python3
"""Keyword spotting on Google Speech Commands with the SPARSE ``KWSEncoder``.

Fbank (hop = dt) -> global InputNormalization -> ``sparse.KWSEncoder`` (auditory nerve,
AdLIF cortex, non-spiking LIF readout pooled over time into one class distribution,
``readout_reduction``) -> negative log-likelihood of that distribution, plus the
firing-rate penalty during training. The best epoch by validation accuracy is tested; the test
accuracy goes to ``<output_folder>/test_accuracy.txt`` and the confusion matrix to
``<output_folder>/confusion_matrix.png``. The steps (``KWSBrain``, data preparation and
pipelines, test report) are :mod:`sparse.recipe.speech_commands`, shared with
``run_analysis.py``; the preparation is :mod:`sparse.data.speech_commands`.

Run from the repository root::

    # bundled FSDD digit sample (10 classes), offline, no data folder needed
    python recipes/SpeechCommands/run_training.py hparams/speech_commands_train.yaml
    # a real Speech Commands folder (v0.01 or v0.02); 12 classes, the laptop configuration
    python recipes/SpeechCommands/run_training.py hparams/speech_commands_train.yaml \
        --data_folder=/data/speech_commands_v0.02
    # all 35 words
    python recipes/SpeechCommands/run_training.py hparams/speech_commands_train.yaml \
        --data_folder=/data/speech_commands_v0.02 --task=all --n_classes=35
"""

from __future__ import annotations

from pathlib import Path

from sparse.recipe import load_recipe, run_recipe, start_experiment
from sparse.recipe.speech_commands import KWSBrain, dataio_prep, prepare_data, uses_sample

#: The bundled FSDD digit sample, used when no ``data_folder`` is given.
SAMPLE_FOLDER = Path(__file__).resolve().parent / "sample_fsdd"


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, prepare the data, train, and test the best-validation checkpoint."""
    run = load_recipe(argv, use_sample=uses_sample)
    hparams = run.hparams
    data_folder = SAMPLE_FOLDER if run.sample_mode else Path(hparams["data_folder"])
    start_experiment(run)
    prepare_data(hparams, data_folder)
    datasets = dataio_prep(hparams, data_folder)
    brain = KWSBrain(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts=run.run_opts,
        checkpointer=hparams["checkpointer"],
    )
    brain.fit(
        hparams["epoch_counter"],
        datasets["train"],
        datasets["valid"],
        train_loader_kwargs=hparams["train_dataloader_opts"],
        valid_loader_kwargs=hparams["valid_dataloader_opts"],
    )
    brain.evaluate(
        datasets["test"], max_key="accuracy", test_loader_kwargs=hparams["test_dataloader_opts"]
    )
    from sparse.inference.export import export_trained_model  # <output_folder>/model/

    export_trained_model(brain, run.hparams_file, "kws", test_set=datasets["test"],
                         max_key="accuracy",
                         trained_on=f"{data_folder.name}, task {hparams['task']}")


if __name__ == "__main__":
    run_recipe(main, prog="run_training.py")
