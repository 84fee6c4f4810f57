#!/usr/bin/env python3
"""Keyword spotting on Google Speech Commands with the SPARSE ``KWSEncoder``.

Fbank (hop = dt) -> global InputNormalization -> ``sparse.KWSEncoder`` (auditory nerve,
AdLIF cortex, non-spiking LIF readout pooled over time into one class distribution,
``readout_reduction``) -> negative log-likelihood of that distribution, plus the
firing-rate penalty during training. The best epoch by validation accuracy is tested; the test
accuracy goes to ``<output_folder>/test_accuracy.txt`` and the confusion matrix to
``<output_folder>/confusion_matrix.png``.

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

import csv
import json
import sys
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
import speechbrain as sb
import torch
from scipy.signal import resample_poly
from speechbrain.utils.distributed import run_on_main

from sparse.recipe_utils import (
    FiringRateMeter,
    RecipeError,
    SkipIncompleteCheckpoints,
    load_recipe_hparams,
    override_keys,
    run_recipe,
)
from sparse.regularization import firing_rate_penalty, firing_rates

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from speech_commands_prepare import (  # noqa: E402
    SpeechCommandsLayoutError,
    prepare_speech_commands,
)

#: The bundled FSDD digit sample, used when no ``data_folder`` is given.
SAMPLE_FOLDER = HERE / "sample_fsdd"


class KWSBrain(SkipIncompleteCheckpoints, sb.Brain):
    """SpeechBrain ``Brain`` for utterance classification with a spiking encoder."""

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
        rates = [firing_rates(s, lens, self.hparams.dt) for s in spikes]  # each (N_i,), Hz
        self.rate_meter.update(
            dict(zip(self.population_names, rates, strict=True)), weight=len(labels)
        )
        if stage == sb.Stage.TRAIN and self.hparams.reg_factor > 0:
            penalty = firing_rate_penalty(
                torch.cat(rates), self.hparams.reg_fmin_hz, self.hparams.reg_fmax_hz
            )
            loss = loss + self.hparams.reg_factor * penalty
        predicted = log_probs.argmax(dim=-1)
        self.correct += int((predicted == labels).sum())
        self.total += len(labels)
        if stage == sb.Stage.TEST:
            n = self.confusion.shape[0]
            counts = torch.bincount((labels * n + predicted).cpu(), minlength=n * n)
            self.confusion += counts.reshape(n, n)
        return loss

    def on_fit_batch_end(self, batch, outputs, loss: torch.Tensor, should_step: bool) -> None:
        """Project the neuron parameters back into their ranges after each optimiser step."""
        if should_step:
            model = getattr(self.modules.model, "module", self.modules.model)
            model.project_parameters_()

    def on_stage_start(self, stage: sb.Stage, epoch: int | None = None) -> None:
        """Reset the accuracy counters, the confusion matrix and the rate meter."""
        self.correct, self.total = 0, 0
        self.rate_meter = FiringRateMeter()
        n = len(self.hparams.label_encoder)
        self.confusion = torch.zeros(n, n, dtype=torch.long)

    def on_stage_end(self, stage: sb.Stage, stage_loss: float, epoch: int | None = None) -> None:
        """Log loss, accuracy and rates; anneal, checkpoint on valid; report on test."""
        stats = {"loss": stage_loss, "accuracy": 100.0 * self.correct / max(self.total, 1)}
        stats.update(
            {k: round(v, 2) for k, v in self.rate_meter.summary(prefix="rate_hz_").items()}
        )
        if stage == sb.Stage.TRAIN:
            self.train_stats = stats
        elif stage == sb.Stage.VALID:
            old_lr, new_lr = self.hparams.lr_annealing(100.0 - stats["accuracy"])
            sb.nnet.schedulers.update_learning_rate(self.optimizer, new_lr)
            self.hparams.train_logger.log_stats(
                stats_meta={"epoch": epoch, "lr": old_lr},
                train_stats=self.train_stats,
                valid_stats=stats,
            )
            self.checkpointer.save_and_keep_only(  # error_rate: for min_key users (analysis)
                meta={"accuracy": stats["accuracy"], "error_rate": 100.0 - stats["accuracy"]},
                max_keys=["accuracy"],
            )
        elif stage == sb.Stage.TEST:
            self.hparams.train_logger.log_stats(
                stats_meta={"Epoch loaded": self.hparams.epoch_counter.current}, test_stats=stats
            )
            if sb.utils.distributed.if_main_process():
                write_test_report(
                    self.hparams.test_accuracy_file,
                    self.hparams.confusion_matrix_file,
                    stats["accuracy"],
                    self.confusion.numpy(),
                    self.hparams.label_encoder,
                )


def load_clip(path: str, start: int, stop: int, sample_rate: int, num_samples: int) -> torch.Tensor:
    """Read samples ``[start, stop)`` of an audio file, resample, pad or cut to a fixed length.

    Parameters
    ----------
    path : str
        Audio file readable by soundfile (wav, flac).
    start, stop : int
        Sample range in the file's own rate; ``stop < 0`` = to the end.
    sample_rate : int
        Target rate in Hz (``scipy.signal.resample_poly`` if the file differs).
    num_samples : int
        Output length (zeros appended, or the tail cut).

    Returns
    -------
    torch.Tensor
        Mono waveform, shape (num_samples,), float32.
    """
    wave, rate = sf.read(
        path, start=start, stop=None if stop < 0 else stop, dtype="float32", always_2d=True
    )
    wave = wave.mean(axis=1)
    if rate != sample_rate:
        g = gcd(int(rate), int(sample_rate))
        wave = resample_poly(wave, sample_rate // g, rate // g).astype(np.float32)
    out = np.zeros(num_samples, dtype=np.float32)
    out[: min(len(wave), num_samples)] = wave[:num_samples]
    return torch.from_numpy(out)


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

    @sb.utils.data_pipeline.takes("wav", "start", "stop")
    @sb.utils.data_pipeline.provides("sig")
    def audio_pipeline(wav, start, stop):
        return load_clip(
            wav, int(start), int(stop), hparams["sample_rate"], hparams["clip_samples"]
        )

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
            dynamic_items=[audio_pipeline, label_pipeline],
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
        PNG path of the confusion matrix.
    accuracy : float
        Test accuracy in percent.
    confusion : numpy.ndarray
        Counts, shape (C, C): row = true class, column = predicted class.
    label_encoder : speechbrain.dataio.encoder.CategoricalEncoder
        Maps class indices to names.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [label_encoder.ind2lab[i] for i in range(confusion.shape[0])]
    per_class = confusion.diagonal() / np.maximum(confusion.sum(axis=1), 1)
    with open(accuracy_file, "w", encoding="utf-8") as f:
        f.write(
            f"test accuracy: {accuracy:.2f} % ({int(confusion.trace())}/{int(confusion.sum())})\n"
        )
        for name, acc in zip(names, per_class, strict=True):
            f.write(f"  {name}: {100 * acc:.1f} %\n")
    size = max(4.0, 0.35 * len(names) + 2.0)
    fig, ax = plt.subplots(figsize=(size + 1.0, size))
    image = ax.imshow(confusion, cmap="Blues")
    ax.set_xticks(range(len(names)), labels=names, rotation=90)
    ax.set_yticks(range(len(names)), labels=names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"Test confusion matrix (accuracy {accuracy:.1f} %)")
    if len(names) <= 15:
        threshold = confusion.max() / 2
        for (i, j), count in np.ndenumerate(confusion):
            ax.text(
                j,
                i,
                str(count),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if count > threshold else "black",
            )
    fig.colorbar(image, ax=ax, label="clips")
    fig.tight_layout()
    fig.savefig(figure_file, dpi=150)
    plt.close(fig)


def load_hparams(argv: list[str]) -> tuple[dict, Path, dict, str, str]:
    """Parse the command line and load the YAML (with its ``sample:`` block if no data folder).

    Returns
    -------
    tuple
        ``(hparams, data_folder, run_opts, hparams_file, overrides)``; in sample mode the
        overrides include the ``sample:`` values, so the saved ``hyperparams.yaml`` is exact.
    """
    hparams_file, run_opts, overrides = sb.parse_arguments(argv)
    hparams, sample_mode = load_recipe_hparams(
        hparams_file, overrides, use_sample=lambda hp: not hp.get("data_folder")
    )
    if not sample_mode:
        return hparams, Path(hparams["data_folder"]), run_opts, hparams_file, overrides
    user = set(override_keys(overrides))
    block = [f"{k}: {json.dumps(v)}" for k, v in hparams["sample"].items() if k not in user]
    overrides = "\n".join(filter(None, [*block, overrides]))
    return hparams, SAMPLE_FOLDER, run_opts, hparams_file, overrides


def prepare_data(hparams: dict, data_folder: Path) -> None:
    """Write the manifests of ``hparams["task"]`` on the main process (errors -> RecipeError)."""
    try:
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
    except (SpeechCommandsLayoutError, ValueError) as err:
        raise RecipeError(str(err)) from err


def main() -> None:
    """Parse arguments, prepare the data, train, and test the best-validation checkpoint."""
    hparams, data_folder, run_opts, hparams_file, overrides = load_hparams(sys.argv[1:])
    if hparams.get("num_threads"):
        torch.set_num_threads(int(hparams["num_threads"]))
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )
    prepare_data(hparams, data_folder)
    datasets = dataio_prep(hparams, data_folder)
    brain = KWSBrain(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=hparams["checkpointer"],
    )
    brain.population_names = list(hparams["model"].population_names)
    brain.fit(
        brain.hparams.epoch_counter,
        datasets["train"],
        datasets["valid"],
        train_loader_kwargs=hparams["train_dataloader_opts"],
        valid_loader_kwargs=hparams["valid_dataloader_opts"],
    )
    brain.evaluate(
        datasets["test"], max_key="accuracy", test_loader_kwargs=hparams["test_dataloader_opts"]
    )
    from sparse.inference.export import export_trained_model  # <output_folder>/model/

    export_trained_model(brain, hparams_file, "kws", test_set=datasets["test"], max_key="accuracy",
                         trained_on=f"{data_folder.name}, task {hparams['task']}")


if __name__ == "__main__":
    run_recipe(main, prog="run_training.py")
