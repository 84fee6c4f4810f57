"""Steps of the Speech Commands keyword-spotting recipe that its training and analysis share.

``recipes/SpeechCommands/run_training.py`` and ``run_analysis.py`` load the YAML with the
same sample rule (:func:`uses_sample`: the bundled FSDD sample when no ``data_folder`` is
given; the scripts name its folder), write the manifests with
:func:`prepare_data`, and read clips with :func:`clip_pipeline`. Training is
:class:`KWSBrain` over :func:`dataio_prep`'s datasets; the test report is
:func:`write_test_report`. The corpus code (official split lists, ``_unknown_`` and
``_silence_``) is :mod:`sparse.data.speech_commands`.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import speechbrain as sb
import torch
from speechbrain.utils.distributed import run_on_main

from ..data.audio import load_waveform
from ..data.speech_commands import prepare_speech_commands
from ..regularization import firing_rate_penalty
from .brain import RecipeBrain
from .errors import RecipeError
from .logs import quiet_matplotlib

__all__ = ["RESAMPLER", "KWSBrain", "uses_sample", "prepare_data",
           "clip_pipeline", "dataio_prep", "write_test_report"]

#: How the recipe resamples clips at another rate (:data:`sparse.data.audio.RESAMPLERS`).
RESAMPLER = "polyphase"


class KWSBrain(RecipeBrain):
    """SpeechBrain ``Brain`` for utterance classification with a spiking encoder.

    Expects ``modules.model`` (a :class:`~sparse.KWSEncoder`) and ``modules.normalize``; the
    plumbing (DDP, projection, statistics, resume) is :class:`~sparse.recipe.brain.RecipeBrain`'s.
    """

    def compute_forward(self, batch, stage: sb.Stage) -> tuple[torch.Tensor, list, torch.Tensor]:
        """Waveforms -> (class probabilities (B, C), spikes list of (B, T', N), lengths (B,))."""
        batch = batch.to(self.device)
        wavs, lens = batch.sig
        if stage == sb.Stage.TRAIN and self.hparams.augment:
            wavs, lens = self.hparams.wav_augment(wavs, lens)
        feats = self.hparams.compute_features(wavs)  # (B, T, n_mels), one frame every dt ms
        feats = self.modules.normalize(feats, lens, epoch=self.hparams.epoch_counter.current)
        # (B, 1, C), one distribution per clip, and every population's spikes
        probs, spikes = self.modules.model(feats, return_spikes=True)
        return probs.squeeze(1), spikes, lens

    def compute_objectives(self, predictions: tuple, batch, stage: sb.Stage) -> torch.Tensor:
        """NLL of the readout's class distribution (+ firing-rate penalty in training)."""
        probs, spikes, lens = predictions
        labels = batch.label_encoded.data.reshape(-1)
        if stage == sb.Stage.TRAIN and self.hparams.augment:
            labels = self.hparams.wav_augment.replicate_labels(labels)
        log_probs = torch.log(probs + self.hparams.log_eps)
        loss = torch.nn.functional.nll_loss(log_probs, labels)
        rates = self.population_rates(spikes, lens)  # each (N_i,), Hz
        self.record_rates(rates, weight=len(labels))
        if stage == sb.Stage.TRAIN and self.hparams.reg_factor > 0:
            penalty = firing_rate_penalty(
                torch.cat(list(rates.values())), self.hparams.reg_fmin_hz, self.hparams.reg_fmax_hz
            )
            loss = loss + self.hparams.reg_factor * penalty
        predicted = log_probs.argmax(dim=-1)
        self.count_correct(predicted, labels)
        if stage == sb.Stage.TEST:
            n = self.confusion.shape[0]
            counts = torch.bincount((labels * n + predicted).cpu(), minlength=n * n)
            self.confusion += counts.reshape(n, n)
        return loss

    def on_stage_start(self, stage: sb.Stage, epoch: int | None = None) -> None:
        """Fresh counters and confusion matrix."""
        super().on_stage_start(stage, epoch)
        n = len(self.hparams.label_encoder)
        self.confusion = torch.zeros(n, n, dtype=torch.long)

    def update_learning_rate(self, stats) -> float:
        """NewBob on the validation error (100 - accuracy); the lr the epoch used."""
        old_lr, new_lr = self.hparams.lr_annealing(100.0 - stats["accuracy"])
        sb.nnet.schedulers.update_learning_rate(self.optimizer, new_lr)
        return old_lr

    def checkpoint_meta(self, stats) -> dict[str, float]:
        """Accuracy, and the error rate (100 - accuracy) for ``min_key`` users (the analysis)."""
        return {"accuracy": stats["accuracy"], "error_rate": 100.0 - stats["accuracy"]}

    def on_test_end(self, stats) -> None:
        """Write the test accuracy and the confusion-matrix figure (main process)."""
        if sb.utils.distributed.if_main_process():
            write_test_report(self.hparams.test_accuracy_file, self.hparams.confusion_matrix_file,
                              stats["accuracy"], self.confusion.numpy(), self.hparams.label_encoder)


def uses_sample(hparams: Mapping[str, Any]) -> bool:
    """The bundled sample (and the YAML's ``sample:`` block) is used when no data folder is given.

    Examples
    --------
    >>> uses_sample({"data_folder": None}), uses_sample({"data_folder": "/data/sc"})
    (True, False)
    """
    return not hparams.get("data_folder")


def prepare_data(hparams: Mapping[str, Any], data_folder: Path) -> None:
    """Write the manifests of ``hparams["task"]`` on the main process (the others wait)."""
    run_on_main(
        prepare_speech_commands,
        kwargs={
            "data_folder": data_folder,
            "save_folder": hparams["save_folder"],
            "task": hparams["task"],
            "keywords": hparams["keywords"],
            "unknown_fraction": hparams["unknown_fraction"],
            "silence_fraction": hparams["silence_fraction"],
            "seed": hparams["seed"],
            "skip_prep": hparams["skip_prep"],
        },
    )


def clip_pipeline(hparams: Mapping[str, Any]):
    """Dynamic item ``(wav, start, stop) -> sig``: the clip at ``sample_rate``, ``clip_samples``
    long (:func:`~sparse.data.audio.load_waveform`, polyphase resampling)."""

    @sb.utils.data_pipeline.takes("wav", "start", "stop")
    @sb.utils.data_pipeline.provides("sig")
    def audio_pipeline(wav: str, start: str, stop: str) -> torch.Tensor:
        return load_waveform(wav, hparams["sample_rate"], RESAMPLER, hparams["clip_samples"],
                             start=int(start), stop=int(stop))

    return audio_pipeline


def dataio_prep(
    hparams: dict, data_folder: Path
) -> dict[str, sb.dataio.dataset.DynamicItemDataset]:
    """Datasets of the three manifests, with audio and label pipelines.

    Parameters
    ----------
    hparams : dict
        Loaded hyperparameters (manifest paths, rates, ``label_encoder``).
    data_folder : Path
        Root that replaces ``$data_root`` in the manifests.

    Returns
    -------
    dict
        ``"train"``, ``"valid"``, ``"test"`` -> dataset with outputs ``id, sig, label_encoded``.
    """
    labels = Path(hparams["labels_file"]).read_text(encoding="utf-8").split()
    if len(labels) != hparams["n_classes"]:
        raise RecipeError(
            f"task {hparams['task']!r} on {data_folder} has {len(labels)} classes {labels}, "
            f"but n_classes is {hparams['n_classes']}: pass --n_classes={len(labels)}"
        )
    encoder = hparams["label_encoder"]
    encoder.update_from_iterable(labels)
    encoder.expect_len(len(labels))
    encoder.save(Path(hparams["save_folder"]) / "label_encoder.txt")

    @sb.utils.data_pipeline.takes("label")
    @sb.utils.data_pipeline.provides("label_encoded")
    def label_pipeline(label):
        return encoder.encode_sequence_torch([label])

    datasets = {}
    for split in ("train", "valid", "test"):
        csv_path = hparams[f"{split}_annotation"]
        with open(csv_path, newline="", encoding="utf-8") as f:
            first = next(csv.DictReader(f))
        wav = first["wav"].replace("$data_root", str(data_folder))
        if not Path(wav).is_file():
            raise RecipeError(f"{csv_path}: audio file {wav} not found; was the data folder moved?")
        datasets[split] = sb.dataio.dataset.DynamicItemDataset.from_csv(
            csv_path=csv_path,
            replacements={"data_root": str(data_folder)},
            dynamic_items=[clip_pipeline(hparams), label_pipeline],
            output_keys=["id", "sig", "label_encoded"],
        )
    if hparams.get("train_subset"):
        datasets["train"] = _every_kth(datasets["train"], hparams["train_subset"])
    for split in ("valid", "test"):
        if hparams.get("eval_subset"):
            datasets[split] = _every_kth(datasets[split], hparams["eval_subset"])
    return datasets


def _every_kth(dataset, fraction: float):
    """A class-balanced slice of ``dataset`` keeping about ``fraction`` of it (for quick tests)."""
    keep = max(1, round(1.0 / fraction))
    ids = [i for n, i in enumerate(dataset.data_ids) if n % keep == 0]
    return dataset.filtered_sorted(key_test={"id": lambda x, ok=set(ids): x in ok})


def write_test_report(
    accuracy_file: str, figure_file: str, accuracy: float, confusion: np.ndarray, label_encoder
) -> None:
    """Write the test accuracy and a labelled confusion-matrix figure.

    Parameters
    ----------
    accuracy_file : str
        Text file receiving ``test accuracy: <value> %`` and the per-class accuracies.
    figure_file : str
        PNG path of the confusion matrix (:func:`sparse.analysis.figures.confusion_figure`).
    accuracy : float
        Test accuracy in percent.
    confusion : numpy.ndarray
        Counts, shape (C, C): row = true class, column = predicted class.
    label_encoder : speechbrain.dataio.encoder.CategoricalEncoder
        Maps class indices to names.
    """
    quiet_matplotlib()  # before matplotlib is imported: it logs its paths at DEBUG
    from ..analysis.figures import confusion_figure, save


    names = [label_encoder.ind2lab[i] for i in range(confusion.shape[0])]
    per_class = confusion.diagonal() / np.maximum(confusion.sum(axis=1), 1)
    with open(accuracy_file, "w", encoding="utf-8") as f:
        f.write(
            f"test accuracy: {accuracy:.2f} % ({int(confusion.trace())}/{int(confusion.sum())})\n"
        )
        for name, acc in zip(names, per_class, strict=True):
            f.write(f"  {name}: {100 * acc:.1f} %\n")
    save(confusion_figure(confusion, names, f"Test confusion matrix (accuracy {accuracy:.1f} %)"),
         Path(figure_file))
