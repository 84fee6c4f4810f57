#!/usr/bin/env python3
"""Train the SPARSE spiking ASR encoder with CTC on TIMIT (39 phones), SpeechBrain style.

Usage (from the repository root)::

    python recipes/TIMIT/run_training.py hparams/timit_train.yaml               # bundled sample
    python recipes/TIMIT/run_training.py hparams/timit_train.yaml --data_folder=/path/to/TIMIT

Without ``--data_folder`` the bundled speechocean762 sample (``recipes/TIMIT/sample``) is used
and the YAML's ``sample:`` block shortens the run. The flow follows SpeechBrain's TIMIT CTC recipe:
waveform → (augmentation, train only) → Fbank with hop = dt → global InputNormalization →
``sparse.ASREncoder`` → Linear → log-softmax → CTC; greedy decoding and PER on dev/test; the
best-dev-PER checkpoint is tested at the end. The firing-rate regulariser is added in training
only, with rates counted over each utterance's true length.
"""

from __future__ import annotations

import logging
from pathlib import Path

import speechbrain as sb
import torch
from speechbrain.dataio.dataio import read_audio
from speechbrain.dataio.dataset import DynamicItemDataset
from speechbrain.utils.distributed import if_main_process, run_on_main

from sparse.recipe import RecipeError, load_recipe, run_recipe, start_experiment
from sparse.recipe.brain import RecipeBrain
from sparse.recipe.timit import data_root, make_label_encoder, prepare_data, uses_sample
from sparse.regularization import firing_rate_penalty

logger = logging.getLogger(__name__)

#: The bundled speechocean762 sample, used when no data or manifest folder is given.
SAMPLE_FOLDER = Path(__file__).resolve().parent / "sample"


class SpikingCTCBrain(RecipeBrain):
    """CTC phone recogniser around a spiking encoder that returns ``(features, all_spikes)``.

    The plumbing (DDP, projection, statistics, checkpoint on the lowest dev PER, resume) is
    :class:`~sparse.recipe.brain.RecipeBrain`'s.
    """

    selection_key = "PER"
    selection_mode = "min"

    def compute_forward(self, batch, stage):
        """Waveforms ``(B, S)`` → CTC log-probabilities ``(B', T_ctc, vocab)`` and spikes.

        In training the batch may grow to ``B' = 2B`` (``concat_original`` augmentation).
        """
        batch = batch.to(self.device)
        wavs, wav_lens = batch.sig
        if stage == sb.Stage.TRAIN and self.hparams.augment:
            wavs, wav_lens = self.hparams.wav_augment(wavs, wav_lens)
        feats = self.hparams.compute_features(wavs)  # (B', T, n_mels), one frame per dt
        epoch = self.hparams.epoch_counter.current if stage == sb.Stage.TRAIN else None
        feats = self.modules.normalize(feats, wav_lens, epoch=epoch)
        # (B', T_ctc, F) and every population's spikes [(B', T', N_i)]
        encoded, spikes = self.modules.model(feats, return_spikes=True)
        logits = self.modules.classifier(encoded)
        return self.hparams.log_softmax(logits), wav_lens, spikes

    def compute_objectives(self, predictions, batch, stage):
        """CTC loss (+ firing-rate penalty in training); PER statistics on dev/test."""
        log_probs, wav_lens, spikes = predictions
        ids = batch.id
        phns, phn_lens = batch.phn_encoded
        if stage == sb.Stage.TRAIN and self.hparams.augment:
            phns = self.hparams.wav_augment.replicate_labels(phns)
            phn_lens = self.hparams.wav_augment.replicate_labels(phn_lens)
        ctc = self.hparams.compute_cost(log_probs, phns, wav_lens, phn_lens)
        rates = self.population_rates(spikes, wav_lens)  # {name: (N_i,) Hz}, true lengths
        self.record_rates(rates, weight=len(wav_lens))
        loss = ctc
        if stage == sb.Stage.TRAIN:
            self.record_means({"ctc": ctc}, weight=len(wav_lens))
            if self.hparams.regularize_firing_rate:
                all_rates = torch.cat(list(rates.values()))
                penalty = firing_rate_penalty(
                    all_rates, self.hparams.reg_fmin_hz, self.hparams.reg_fmax_hz
                )
                loss = ctc + self.hparams.reg_factor * penalty
        else:
            self.ctc_metrics.append(ids, log_probs, phns, wav_lens, phn_lens)
            hyps = sb.decoders.ctc_greedy_decode(
                log_probs, wav_lens, blank_id=self.hparams.blank_index
            )
            self.per_metrics.append(
                ids, hyps, phns, None, phn_lens, ind2lab=self.label_encoder.decode_ndim
            )
        return loss

    def on_stage_start(self, stage, epoch=None):
        """Fresh counters, and CTC and PER accumulators on dev/test."""
        super().on_stage_start(stage, epoch)
        if stage != sb.Stage.TRAIN:
            self.ctc_metrics = self.hparams.ctc_stats()
            self.per_metrics = self.hparams.per_stats()

    def stage_stats(self, stage, stage_loss):
        """Loss, mean CTC (train) and firing rates; PER (%) on dev/test."""
        stats = super().stage_stats(stage, stage_loss)
        if stage != sb.Stage.TRAIN:
            stats["PER"] = self.per_metrics.summarize("error_rate")
        return stats

    def update_learning_rate(self, stats) -> float:
        """NewBob on dev PER once it is below ``anneal_below_per``; the lr the epoch used."""
        annealing = self.hparams.lr_annealing
        if stats["PER"] < self.hparams.anneal_below_per:
            old_lr, new_lr = annealing(stats["PER"])
        else:  # only blanks decoded yet: no progress to measure, keep the lr
            old_lr = new_lr = annealing.hyperparam_value
        sb.nnet.schedulers.update_learning_rate(self.optimizer, new_lr)
        return old_lr

    def on_test_end(self, stats) -> None:
        """Write the CTC and PER statistics of the test set (main process)."""
        if if_main_process():
            with open(self.hparams.test_wer_file, "w", encoding="utf-8") as out:
                out.write("CTC loss stats:\n")
                self.ctc_metrics.write_stats(out)
                out.write("\nPER stats:\n")
                self.per_metrics.write_stats(out)
            logger.info("PER stats written to %s", self.hparams.test_wer_file)


def dataio_prep(hparams: dict, label_encoder) -> dict[str, DynamicItemDataset]:
    """Datasets of the three manifests with audio and label pipelines, sorted as configured."""

    @sb.utils.data_pipeline.takes("wav")
    @sb.utils.data_pipeline.provides("sig")
    def audio_pipeline(wav: str) -> torch.Tensor:
        try:
            return read_audio(wav)
        except Exception as err:  # soundfile raises several classes for broken files
            raise RecipeError(f"cannot read audio file {wav}: {err}") from err

    @sb.utils.data_pipeline.takes("phn")
    @sb.utils.data_pipeline.provides("phn_list", "phn_encoded")
    def label_pipeline(phn: str):
        phn_list = phn.split()
        yield phn_list
        try:
            yield torch.LongTensor(label_encoder.encode_sequence(phn_list))
        except KeyError as err:
            raise RecipeError(f"unknown phone label {err} in transcription {phn!r}") from err

    datasets = {}
    annotations = {
        "train": hparams["train_annotation"],
        "dev": hparams["valid_annotation"],
        "test": hparams["test_annotation"],
    }
    for split, path in annotations.items():
        dataset = DynamicItemDataset.from_json(
            json_path=path, replacements={"data_root": str(hparams["data_folder"])}
        )
        sorting = hparams["sorting"] if split == "train" else "ascending"
        if sorting in ("ascending", "descending"):
            dataset = dataset.filtered_sorted(
                sort_key="duration", reverse=sorting == "descending"
            )
        elif sorting != "random":
            raise RecipeError(f"sorting must be ascending, descending or random, got {sorting!r}")
        datasets[split] = dataset
    if hparams["sorting"] != "random":
        hparams["train_dataloader_opts"]["shuffle"] = False
    all_sets = list(datasets.values())
    sb.dataio.dataset.add_dynamic_item(all_sets, audio_pipeline)
    sb.dataio.dataset.add_dynamic_item(all_sets, label_pipeline)
    sb.dataio.dataset.set_output_keys(all_sets, ["id", "sig", "phn_encoded"])
    return datasets


def main(argv: list[str] | None = None) -> None:
    """Parse the command line, prepare data, train, and test with the best dev-PER checkpoint."""
    run = load_recipe(argv, use_sample=uses_sample)
    hparams, sample_mode = run.hparams, run.sample_mode
    hparams["data_folder"] = data_root(hparams, sample_mode, SAMPLE_FOLDER)
    # the folder {data_root} stands for, so that hyperparams.yaml records it too
    start_experiment(run, recorded={"data_folder": hparams["data_folder"]}
                     if hparams["data_folder"] is not None else None)
    if sample_mode:
        logger.info("no --data_folder given: training on the bundled sample %s", SAMPLE_FOLDER)
    elif hparams.get("manifest_folder"):
        logger.info("training on the manifests of %s (audio root %s)",
                    hparams["manifest_folder"], hparams["data_folder"])
    run_on_main(prepare_data, kwargs={"hparams": hparams, "sample_mode": sample_mode})
    label_encoder = make_label_encoder(hparams)
    datasets = dataio_prep(hparams, label_encoder)

    brain = SpikingCTCBrain(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts=run.run_opts,
        checkpointer=hparams["checkpointer"],
    )
    brain.label_encoder = label_encoder
    brain.fit(
        hparams["epoch_counter"],
        datasets["train"],
        datasets["dev"],
        train_loader_kwargs=hparams["train_dataloader_opts"],
        valid_loader_kwargs=hparams["valid_dataloader_opts"],
    )
    brain.evaluate(
        datasets["test"], min_key="PER", test_loader_kwargs=hparams["test_dataloader_opts"]
    )
    from sparse.inference.export import export_trained_model  # <output_folder>/model/

    export_trained_model(brain, run.hparams_file, "asr", test_set=datasets["test"], min_key="PER",
                         trained_on="speechocean762 sample" if sample_mode else "TIMIT")


if __name__ == "__main__":
    run_recipe(main, prog="run_training.py")
