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

import json
import logging
import sys
from pathlib import Path

import speechbrain as sb
import torch
from speechbrain.dataio.dataio import read_audio
from speechbrain.dataio.dataset import DynamicItemDataset
from speechbrain.utils.distributed import if_main_process, run_on_main

from sparse.recipe import (
    MeanMeter,
    RecipeError,
    SkipIncompleteCheckpoints,
    load_recipe_hparams,
    override_keys,
    recipe_overrides,
    run_recipe,
    wrap_ddp_cpu,
)
from sparse.recipe.timit import data_root, make_label_encoder, prepare_data, uses_sample
from sparse.regularization import firing_rate_penalty, firing_rates

logger = logging.getLogger(__name__)

#: The bundled speechocean762 sample, used when no data or manifest folder is given.
SAMPLE_FOLDER = Path(__file__).resolve().parent / "sample"


class SpikingCTCBrain(SkipIncompleteCheckpoints, sb.Brain):
    """CTC phone recogniser around a spiking encoder that returns ``(features, all_spikes)``."""

    def _encoder(self) -> torch.nn.Module:
        """The encoder without a DDP/DataParallel wrapper."""
        model = self.modules.model
        return getattr(model, "module", model)

    def _wrap_distributed(self):
        """DDP on CPU (gloo) without SyncBatchNorm, which PyTorch implements for GPUs only.

        SpeechBrain 1.1.2 converts every BatchNorm to SyncBatchNorm under DDP, which then fails
        in the first CPU forward; on CPU each process keeps its own batch statistics instead.
        """
        if not (self.distributed_launch and torch.device(self.device).type == "cpu"):
            super()._wrap_distributed()
            return
        wrap_ddp_cpu(self.modules, find_unused_parameters=self.find_unused_parameters)

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

    def population_rates(self, spikes: list[torch.Tensor], wav_lens: torch.Tensor):
        """Per-population firing rates ``{name: (N_i,) Hz}`` over each utterance's true length."""
        names = getattr(self._encoder(), "population_names", None) or [
            f"pop{i}" for i in range(len(spikes))
        ]
        dt = float(self.hparams.hop_length)
        return {name: firing_rates(s, wav_lens, dt) for name, s in zip(names, spikes, strict=True)}

    def compute_objectives(self, predictions, batch, stage):
        """CTC loss (+ firing-rate penalty in training); PER statistics on dev/test."""
        log_probs, wav_lens, spikes = predictions
        ids = batch.id
        phns, phn_lens = batch.phn_encoded
        if stage == sb.Stage.TRAIN and self.hparams.augment:
            phns = self.hparams.wav_augment.replicate_labels(phns)
            phn_lens = self.hparams.wav_augment.replicate_labels(phn_lens)
        ctc = self.hparams.compute_cost(log_probs, phns, wav_lens, phn_lens)
        rates = self.population_rates(spikes, wav_lens)
        self.rate_meter.update({k: v.detach() for k, v in rates.items()}, weight=len(wav_lens))
        loss = ctc
        if stage == sb.Stage.TRAIN:
            self.ctc_meter.update({"ctc": ctc.detach()}, weight=len(wav_lens))
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

    def on_fit_batch_end(self, batch, outputs, loss, should_step):
        """Project neuron parameters back into their ranges/masks after each optimiser step."""
        if should_step:
            self._encoder().project_parameters_()

    def on_stage_start(self, stage, epoch=None):
        """Fresh metric accumulators for the stage."""
        self.rate_meter = MeanMeter()
        self.ctc_meter = MeanMeter()
        if stage != sb.Stage.TRAIN:
            self.ctc_metrics = self.hparams.ctc_stats()
            self.per_metrics = self.hparams.per_stats()

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Log loss, PER and mean firing rates; anneal, checkpoint on dev PER; write test stats."""
        stats = {"loss": stage_loss}
        stats.update(self.rate_meter.summary(prefix="rate_hz_"))
        if stage == sb.Stage.TRAIN:
            stats.update(self.ctc_meter.summary())
            self.train_stats = stats
            return
        stats["PER"] = self.per_metrics.summarize("error_rate")
        if stage == sb.Stage.VALID:
            annealing = self.hparams.lr_annealing
            if stats["PER"] < self.hparams.anneal_below_per:
                old_lr, new_lr = annealing(stats["PER"])
            else:  # only blanks decoded yet: no progress to measure, keep the lr
                old_lr = new_lr = annealing.hyperparam_value
            sb.nnet.schedulers.update_learning_rate(self.optimizer, new_lr)
            self.hparams.train_logger.log_stats(
                stats_meta={"epoch": epoch, "lr": old_lr},
                train_stats=getattr(self, "train_stats", None),
                valid_stats=stats,
            )
            self.checkpointer.save_and_keep_only(
                meta={"PER": stats["PER"]}, min_keys=["PER"]
            )
        elif stage == sb.Stage.TEST:
            self.hparams.train_logger.log_stats(
                stats_meta={"Epoch loaded": self.hparams.epoch_counter.current},
                test_stats=stats,
            )
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
    hparams_file, run_opts, overrides = sb.parse_arguments(
        sys.argv[1:] if argv is None else argv
    )
    hparams, sample_mode = load_recipe_hparams(hparams_file, overrides, use_sample=uses_sample)
    # what the run applies (sample block included), so that hyperparams.yaml records it
    effective, _ = recipe_overrides(hparams_file, overrides, use_sample=uses_sample)
    hparams["data_folder"] = data_root(hparams, sample_mode, SAMPLE_FOLDER)
    if "data_folder" not in override_keys(effective) and hparams["data_folder"] is not None:
        effective += f"\ndata_folder: {json.dumps(str(hparams['data_folder']))}"
    if hparams.get("num_threads"):
        torch.set_num_threads(int(hparams["num_threads"]))
    sb.utils.distributed.ddp_init_group(run_opts)
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=effective,
    )
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
        run_opts=run_opts,
        checkpointer=hparams["checkpointer"],
    )
    brain.label_encoder = label_encoder
    brain.fit(
        brain.hparams.epoch_counter,
        datasets["train"],
        datasets["dev"],
        train_loader_kwargs=hparams["train_dataloader_opts"],
        valid_loader_kwargs=hparams["valid_dataloader_opts"],
    )
    brain.evaluate(
        datasets["test"], min_key="PER", test_loader_kwargs=hparams["test_dataloader_opts"]
    )
    from sparse.inference.export import export_trained_model  # <output_folder>/model/

    export_trained_model(brain, hparams_file, "asr", test_set=datasets["test"], min_key="PER",
                         trained_on="speechocean762 sample" if sample_mode else "TIMIT")


if __name__ == "__main__":
    run_recipe(main, prog="run_training.py")
