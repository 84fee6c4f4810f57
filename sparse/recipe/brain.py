"""The ``Brain`` base of every training recipe: the plumbing, so that recipes hold only hooks.

A recipe's Brain subclasses :class:`RecipeBrain` and writes ``compute_forward`` and
``compute_objectives``, which report what they measured through :meth:`~RecipeBrain.record_rates`,
:meth:`~RecipeBrain.record_means` and :meth:`~RecipeBrain.count_correct`. Where a recipe
differs it overrides :meth:`~RecipeBrain.update_learning_rate`,
:meth:`~RecipeBrain.init_schedulers`, :meth:`~RecipeBrain.stage_stats`,
:meth:`~RecipeBrain.checkpoint_meta` or :meth:`~RecipeBrain.on_test_end`, and names the
validation value that selects checkpoints (:attr:`~RecipeBrain.selection_key`). Every recipe
then shares:

* **modules under DDP.** :meth:`~RecipeBrain.raw_module` and :attr:`~RecipeBrain.model` give
  the module itself, wrapped in ``DistributedDataParallel`` or not; on CPU (gloo) DDP is used
  without SpeechBrain's ``SyncBatchNorm`` conversion, which PyTorch runs on GPUs only.
* **the parameter projection:** after every optimiser step, each module that has
  ``project_parameters_()`` puts its parameters back into their ranges and masks.
* **statistics in one unit:** ``loss``; ``accuracy`` in percent, counted over examples (not a
  mean of batch accuracies); named means (loss terms); firing rates in Hz per population
  (``rate_hz_<population>``), weighted by examples. ``train_log.txt`` gets one line per epoch
  (``epoch``, ``lr`` the epoch ran with, train and valid statistics) and one per test; the time
  of every stage goes to ``log.txt``.
* **resume that does not change the result:** the global random states are checkpointed, and
  so are the stage's counters in intra-epoch checkpoints; torn checkpoints are set aside before
  recovery, and ``train_log.txt`` is cut back to the recovered epoch
  (:mod:`sparse.recipe.resume`). A run killed at any point and started again with the same
  command ends with the same weights and the same log as a run that was never interrupted
  (one process; under DDP every rank restores the main process's random states).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import speechbrain as sb
import torch
import yaml
from speechbrain.utils.checkpoints import mark_as_loader, mark_as_saver, register_checkpoint_hooks
from speechbrain.utils.distributed import ddp_barrier, if_main_process

from ..regularization import firing_rates
from .checkpoints import set_aside_incomplete_checkpoints
from .distributed import wrap_ddp_cpu
from .metrics import MeanMeter
from .resume import RandomStates, trim_train_log

__all__ = ["RecipeBrain"]

logger = logging.getLogger(__name__)

_WRAPPERS = (torch.nn.parallel.DistributedDataParallel, torch.nn.DataParallel)


@register_checkpoint_hooks
class RecipeBrain(sb.Brain):
    """SpeechBrain ``Brain`` with the plumbing every ``sparse`` training recipe shares.

    Expects in ``hparams``: ``epoch_counter`` and ``train_logger`` (a ``FileTrainLogger``).
    """

    #: Validation statistic saved with every end-of-epoch checkpoint; the best one is kept.
    selection_key: str = "accuracy"
    #: ``"max"`` when a higher :attr:`selection_key` is better, ``"min"`` when lower is.
    selection_mode: str = "max"

    def __init__(self, modules=None, opt_class=None, hparams=None, run_opts=None,
                 checkpointer=None) -> None:
        super().__init__(modules=modules, opt_class=opt_class, hparams=hparams,
                         run_opts=run_opts, checkpointer=checkpointer)
        self.random_states = RandomStates()
        self.train_stats: dict[str, float] | None = None
        self.test_stats: dict[str, float] | None = None
        self._resumed_stage: dict[str, Any] | None = None
        if self.checkpointer is not None:  # optional: checkpoints of earlier versions load
            self.checkpointer.add_recoverable("random_states", self.random_states,
                                              optional_load=True)

    # ---- modules -----------------------------------------------------------------------

    def raw_module(self, name: str = "model") -> torch.nn.Module:
        """``self.modules[name]`` without its DDP / DataParallel wrapper."""
        module = self.modules[name]
        return module.module if isinstance(module, _WRAPPERS) else module

    @property
    def model(self) -> torch.nn.Module:
        """The ``model`` module itself (never its DDP wrapper)."""
        return self.raw_module("model")

    def _wrap_distributed(self) -> None:
        """DDP on CPU (gloo) without SyncBatchNorm; SpeechBrain's wrapping otherwise."""
        if self.distributed_launch and torch.device(self.device).type == "cpu":
            wrap_ddp_cpu(self.modules, find_unused_parameters=self.find_unused_parameters)
            return
        super()._wrap_distributed()

    # ---- optimisers, recovery ------------------------------------------------------------

    def init_optimizers(self) -> None:
        """Optimisers, then :meth:`init_schedulers`, then torn checkpoints set aside.

        ``Brain.on_fit_start`` calls this right before recovery, when every recoverable is
        registered and so can be checked for (on the main process; the others wait).
        """
        super().init_optimizers()
        if self.opt_class is not None:
            self.init_schedulers()
        if self.checkpointer is None:
            return
        if if_main_process():
            optional = getattr(self.checkpointer, "optional_recoverables", {})
            required = [name for name in self.checkpointer.recoverables if not optional.get(name)]
            set_aside_incomplete_checkpoints(self.checkpointer.checkpoints_dir, required)
        ddp_barrier()

    def init_schedulers(self) -> None:
        """Hook: make schedulers that need ``self.optimizer`` and register them for checkpoints."""

    def on_fit_start(self) -> None:
        """Recover the latest checkpoint, then cut ``train_log.txt`` back to its epoch."""
        super().on_fit_start()
        save_file = getattr(getattr(self.hparams, "train_logger", None), "save_file", None)
        counter = getattr(self.hparams, "epoch_counter", None)
        if save_file is not None and counter is not None and if_main_process():
            removed = trim_train_log(save_file, counter.current)
            if removed:
                logger.info("%s: %d line(s) after epoch %d removed (not checkpointed by the "
                            "interrupted run; they are logged again)", save_file, removed,
                            counter.current)

    def on_fit_batch_start(self, batch, should_step: bool) -> None:
        """Restore the random states of an intra-epoch checkpoint now that the epoch runs."""
        self.random_states.apply_pending()

    def on_fit_batch_end(self, batch, outputs, loss, should_step: bool) -> None:
        """After each optimiser step, project every module's parameters back into range."""
        if should_step:
            for name in self.modules:
                module = self.raw_module(name)
                if hasattr(module, "project_parameters_"):
                    module.project_parameters_()

    # ---- what a stage measures -------------------------------------------------------------

    def on_stage_start(self, stage: sb.Stage, epoch: int | None = None) -> None:
        """Fresh counters (or, in a resumed training epoch, the checkpointed ones)."""
        self.rate_meter = MeanMeter()
        self.mean_meter = MeanMeter()
        self.n_correct = 0
        self.n_examples = 0
        self.stage_began = time.time()
        if stage == sb.Stage.TRAIN and self._resumed_stage is not None:
            self._load_stage_state(self._resumed_stage)
            self._resumed_stage = None

    def record_rates(self, rates: Mapping[str, torch.Tensor | float], weight: int) -> None:
        """Add one batch's firing rates, Hz (``{population: (N_i,) or scalar}``), weighted."""
        self.rate_meter.update({k: v.detach() if isinstance(v, torch.Tensor) else v
                                for k, v in rates.items()}, weight=weight)

    def record_means(self, values: Mapping[str, torch.Tensor | float], weight: int) -> None:
        """Add one batch's named values (e.g. loss terms), logged as their weighted means."""
        self.mean_meter.update({k: v.detach() if isinstance(v, torch.Tensor) else v
                                for k, v in values.items()}, weight=weight)

    def count_correct(self, predicted: torch.Tensor, labels: torch.Tensor) -> None:
        """Count one batch's correct predictions ``(B,)`` against ``labels`` ``(B,)``."""
        self.n_correct += int((predicted == labels).sum())
        self.n_examples += int(labels.numel())

    def population_rates(self, spikes: Sequence[torch.Tensor],
                         lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        """Rates in Hz ``{population: (N_i,)}`` of spike trains ``[(B, T_i, N_i)]``.

        Each utterance counts over its true length (``lengths`` relative, ``(B,)``); names and
        the time step are the model's (``population_names``, ``dt`` in ms).
        """
        model = self.model
        names = getattr(model, "population_names", None) or [f"pop{i}" for i in range(len(spikes))]
        return {name: firing_rates(s, lengths, float(model.dt))
                for name, s in zip(names, spikes, strict=True)}

    def stage_stats(self, stage: sb.Stage, stage_loss: float) -> dict[str, float]:
        """The stage's statistics: loss, accuracy (%), ``rate_hz_<population>``, means."""
        stats = {"loss": stage_loss}
        if self.n_examples:
            stats["accuracy"] = 100.0 * self.n_correct / self.n_examples
        stats.update(self.rate_meter.summary(prefix="rate_hz_"))
        stats.update(self.mean_meter.summary())
        return stats

    # ---- the end of a stage ----------------------------------------------------------------

    def update_learning_rate(self, stats: Mapping[str, float]) -> float:
        """Hook: step the schedule on the validation ``stats``; return the lr the epoch used."""
        return float(self.optimizer.param_groups[0]["lr"])

    def checkpoint_meta(self, stats: Mapping[str, float]) -> dict[str, float]:
        """Hook: the values stored with an end-of-epoch checkpoint (the selection key's)."""
        return {self.selection_key: stats[self.selection_key]}

    def on_test_end(self, stats: Mapping[str, float]) -> None:
        """Hook: write a recipe's test report (called on every process)."""

    def on_stage_end(self, stage: sb.Stage, stage_loss: float, epoch: int | None = None) -> None:
        """Log the stage; on validation, step the schedule and checkpoint; on test, report."""
        if stage == sb.Stage.TRAIN:  # an epoch resumed after its last batch ran no batch
            self.random_states.apply_pending()
        stats = self.stage_stats(stage, stage_loss)
        logger.info("%s stage%s: %.1f s", stage.name.lower(),
                    f" of epoch {epoch}" if epoch else "", time.time() - self.stage_began)
        if stage == sb.Stage.TRAIN:
            self.train_stats = stats
        elif stage == sb.Stage.VALID:
            lr = self.update_learning_rate(stats)
            self.hparams.train_logger.log_stats({"epoch": epoch, "lr": lr},
                                                train_stats=self.train_stats, valid_stats=stats)
            if self.checkpointer is not None:
                keys = {f"{self.selection_mode}_keys": [self.selection_key]}
                self.checkpointer.save_and_keep_only(meta=self.checkpoint_meta(stats), **keys)
        else:
            self.hparams.train_logger.log_stats(
                {"Epoch loaded": self.hparams.epoch_counter.current}, test_stats=stats)
            self.test_stats = stats
            self.on_test_end(stats)

    # ---- the Brain's own checkpoint file ---------------------------------------------------

    def _stage_state(self) -> dict[str, Any]:
        return {"rates": self.rate_meter.state_dict(), "means": self.mean_meter.state_dict(),
                "correct": self.n_correct, "examples": self.n_examples}

    def _load_stage_state(self, state: Mapping[str, Any]) -> None:
        self.rate_meter.load_state_dict(state["rates"])
        self.mean_meter.load_state_dict(state["means"])
        self.n_correct, self.n_examples = int(state["correct"]), int(state["examples"])

    @mark_as_saver
    def _save(self, path) -> None:
        """SpeechBrain's Brain fields (step, running loss, optimiser steps) and the stage's
        counters, which an intra-epoch checkpoint needs to log the epoch as if uninterrupted."""
        state = {"step": self.step, "avg_train_loss": self.avg_train_loss,
                 "optimizer_step": self.optimizer_step}
        if hasattr(self, "rate_meter"):
            state["stage"] = self._stage_state()
        with open(path, "w", encoding="utf-8") as out:
            out.write(yaml.safe_dump(state, sort_keys=False))  # meters keep their order

    @mark_as_loader
    def _recover(self, path, end_of_epoch: bool) -> None:
        """Read :meth:`_save`'s file; a mid-epoch stage's counters wait for its restart."""
        with open(path, encoding="utf-8") as stream:
            state = yaml.safe_load(stream)
        self.step = state["step"]
        self.avg_train_loss = state["avg_train_loss"]
        self.optimizer_step = state.get("optimizer_step", self.step)
        self._resumed_stage = None if end_of_epoch else state.get("stage")
