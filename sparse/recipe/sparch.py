"""Training of the SpArch models with SpeechBrain: the ``Brain`` and the recipe driver.

Shared by ``recipes/{SHD,SSC,HD}/run_training.py`` and ``recipes/SpeechCommands/run_sparch.py``
(:data:`CORPUS_TASKS`); a recipe only names its corpus, whose task says how to get the data
(:class:`SpArchTask`). The networks come from :func:`sparse.models.build_model`.

Objective: the model returns the time-averaged softmax ``p`` (a distribution per example);
the loss is ``nll_loss(log p, y)`` (upstream SpArch feeds the *sum* of softmaxes, values in
``[0, T]``, to a cross-entropy). With ``use_regularizers`` (spiking models, training only),
SpArch's firing-rate penalty is added::

    reg_factor * dt / 1000 * [sum_i ReLU(reg_fmin_hz - r_i) + sum_i ReLU(r_i - reg_fmax_hz)]

with ``r_i`` the rate of neuron ``i`` in Hz, measured *before* dropout, and ``dt`` the model's
step (ms): SpArch's penalty in spikes per step
(:func:`~sparse.regularization.sparch_rate_penalty`; the YAMLs give SpArch's bounds, 0.01 and
0.5 spikes per step, in Hz). Accuracy (in percent) and each layer's mean rate (``rate_hz_layer1``,
...) are counted over examples (not averaged per batch). The learning rate follows
``torch.optim.lr_scheduler.ReduceLROnPlateau`` on the validation accuracy (mode max), saved in
every checkpoint together with the optimiser; the checkpoint with the best validation accuracy
is used for the test.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import speechbrain as sb
import torch
import torch.nn.functional as F
from speechbrain.utils.distributed import run_on_main

from ..data import (
    hd_datasets,
    make_hd_fixture,
    make_speech_commands_fixture,
    make_spike_fixture,
    manifest_datasets,
    spike_datasets,
)
from ..data.speech_commands import prepare_speech_commands
from ..regularization import sparch_rate_penalty
from .brain import RecipeBrain
from .errors import RecipeError, no_empty_folders_left
from .experiment import load_recipe, start_experiment

__all__ = ["CORPUS_TASKS", "SpArchBrain", "SpArchTask", "choose_task", "corpus_main",
           "run_sparch_recipe"]

logger = logging.getLogger(__name__)


class SpArchBrain(RecipeBrain):
    """Brain of the SpArch tasks: utterance classification with an ``SNN`` or ``ANN``.

    Expects ``modules.model``, and in ``hparams``: ``use_regularizers``, ``reg_factor``,
    ``reg_fmin_hz``, ``reg_fmax_hz``, ``lr_scheduler`` (a partial taking the optimiser),
    ``epoch_counter`` and ``train_logger``. The plumbing (DDP, projection, statistics, resume)
    is :class:`~sparse.recipe.brain.RecipeBrain`'s.
    """

    def init_schedulers(self) -> None:
        """The plateau scheduler on the optimiser, checkpointed with it."""
        self.lr_scheduler = self.hparams.lr_scheduler(self.optimizer)
        if self.checkpointer is not None:
            self.checkpointer.add_recoverable("lr_scheduler", self.lr_scheduler)

    def compute_forward(self, batch, stage):
        """Class probabilities ``(B, C)`` and firing rates ``(N,)`` (``None`` for ANNs)."""
        batch = batch.to(self.device)
        feats, lens = batch.feats
        return self.modules.model(feats, lengths=lens)

    def compute_objectives(self, predictions, batch, stage):
        """NLL of the time-averaged softmax (+ rate penalty in training); updates the counters."""
        probs, rates = predictions
        labels = batch.label.data.view(-1).to(probs.device)
        loss = F.nll_loss(torch.log(probs.clamp_min(1e-12)), labels)
        self.count_correct(probs.argmax(dim=-1), labels)
        if rates is not None:
            model = self.model
            by_layer = rates.detach().split(model.population_sizes)
            self.record_rates(dict(zip(model.population_names, by_layer, strict=True)),
                              weight=labels.shape[0])
            if stage == sb.Stage.TRAIN and self.hparams.use_regularizers:
                penalty = sparch_rate_penalty(rates, self.hparams.reg_fmin_hz,
                                              self.hparams.reg_fmax_hz, dt=model.dt)
                loss = loss + self.hparams.reg_factor * penalty
        return loss

    def update_learning_rate(self, stats) -> float:
        """Step the plateau scheduler on the validation accuracy; the lr the epoch used."""
        lr = float(self.optimizer.param_groups[0]["lr"])
        self.lr_scheduler.step(stats["accuracy"])
        return lr


@dataclass(frozen=True)
class SpArchTask:
    """How a SpArch recipe gets the data of one task.

    Attributes
    ----------
    name : str
        Name in log messages and in the model folder's README (``"SHD"``).
    make_fixture : callable
        ``folder -> data folder``: writes the task's tiny generated data set in its real layout.
    make_datasets : callable
        ``(hparams, data_folder) -> {"train", "valid", "test"}`` datasets with ``feats`` and
        ``label`` outputs.
    """

    name: str
    make_fixture: Callable[[Path], Path]
    make_datasets: Callable[[dict, Path], dict]


def choose_task(tasks: Mapping[str, SpArchTask], hparams: Mapping, hparams_file: str) -> SpArchTask:
    """The task the YAML's ``task`` key names (the only one offered may go unnamed).

    Raises
    ------
    RecipeError
        Naming the YAML, the value and the tasks offered.
    """
    key = hparams.get("task")
    if key is None and len(tasks) == 1:
        return next(iter(tasks.values()))
    if key not in tasks:
        raise RecipeError(f"{hparams_file}: task must be one of {', '.join(tasks)}, got {key!r}")
    return tasks[key]


def run_sparch_recipe(argv: Sequence[str] | None, tasks: Mapping[str, SpArchTask]) -> SpArchBrain:
    """Parse arguments, (generate data,) train and test; the body of every SpArch recipe.

    Parameters
    ----------
    argv : sequence of str, optional
        Command line without the program name (``sys.argv[1:]`` when ``None``).
    tasks : mapping of str to SpArchTask
        The tasks the recipe serves; the YAML's ``task`` key picks one (see
        :func:`choose_task`).

    Returns
    -------
    SpArchBrain
        The trained brain (``test_stats`` holds the test results).
    """
    run = load_recipe(argv, use_sample=lambda h: not h.get("data_folder"))
    hparams, fixture_mode = run.hparams, run.sample_mode
    with no_empty_folders_left(hparams["save_folder"], hparams["output_folder"]):
        spec = choose_task(tasks, hparams, run.hparams_file)  # loading the YAML made save/
    task, make_fixture, make_datasets = spec.name, spec.make_fixture, spec.make_datasets
    start_experiment(run)
    if fixture_mode:  # the YAML's sample: block is applied; nothing in the YAML uses data_folder
        run_on_main(make_fixture, args=[Path(hparams["fixture_folder"])])  # returns its folder
        hparams["data_folder"] = str(hparams["fixture_folder"])
        logger.warning("%s: no --data_folder given, so this run uses a TINY GENERATED FIXTURE in "
                       "%s (synthetic data, real layout). Its accuracy means nothing. Pass "
                       "--data_folder=<path> to train on the real corpus.", task,
                       hparams["data_folder"])
    datasets = make_datasets(hparams, Path(hparams["data_folder"]))  # DataError if unusable
    n_params = sum(p.numel() for p in hparams["model"].parameters())
    logger.info("%s: model %s, %d trainable parameters; %s", task, hparams["model_type"], n_params,
                {k: len(v) for k, v in datasets.items()})
    if run.run_opts.get("test_only") and not hparams["checkpointer"].list_checkpoints():
        raise RecipeError(f"--test_only needs a trained checkpoint in {hparams['save_folder']}; "
                          "none found (upstream would test an untrained network)")
    brain = SpArchBrain(modules=hparams["modules"], opt_class=hparams["opt_class"], hparams=hparams,
                        run_opts=run.run_opts, checkpointer=hparams["checkpointer"])
    brain.fit(hparams["epoch_counter"], datasets["train"], datasets["valid"],
              train_loader_kwargs=hparams["train_dataloader_opts"],
              valid_loader_kwargs=hparams["test_dataloader_opts"])
    brain.evaluate(datasets["test"], max_key="accuracy",
                   test_loader_kwargs=hparams["test_dataloader_opts"])
    from ..inference.export import export_trained_model  # <output_folder>/model/

    export_trained_model(brain, run.hparams_file, "sparch", test_set=datasets["test"],
                         max_key="accuracy",
                         trained_on=f"{task}{' (tiny generated fixture)' if fixture_mode else ''}")
    return brain


def _spike_task(task: str) -> SpArchTask:
    """SHD or SSC: binned spike trains of the HDF5 files in the data folder."""

    def datasets(hparams: dict, data_folder: Path) -> dict:
        return spike_datasets(
            data_folder, task, hparams["nb_steps"], hparams["max_time"],
            hparams["valid_protocol"], hparams["valid_fraction"], hparams["valid_speakers"],
            hparams["seed"], hparams["binary_spikes"],
        )

    return SpArchTask(task.upper(), lambda folder: make_spike_fixture(folder, task), datasets)


def _hd_audio_datasets(hparams: dict, data_folder: Path) -> dict:
    """HD: train / valid / test datasets of the audio folder (features computed on the fly)."""
    return hd_datasets(data_folder, hparams["valid_protocol"], hparams["valid_fraction"],
                       hparams["valid_speakers"], hparams["seed"], hparams["n_mels"])


def _speech_commands_datasets(hparams: dict, data_folder: Path) -> dict:
    """Speech Commands: manifests from the official lists (``prepare_task``, ``task="all"``
    for SpArch's 35 words), then the datasets of their audio (features computed on the fly)."""
    run_on_main(prepare_speech_commands, args=[data_folder, hparams["manifest_folder"]],
                kwargs={"task": hparams["prepare_task"],
                        "unknown_fraction": hparams["unknown_fraction"],
                        "silence_fraction": hparams["silence_fraction"], "seed": hparams["seed"]})
    datasets, labels = manifest_datasets(hparams["manifest_folder"], data_folder, hparams["n_mels"])
    if len(labels) != hparams["nb_outputs"]:
        raise RecipeError(
            f"the data has {len(labels)} classes but nb_outputs is "
            f"{hparams['nb_outputs']}; pass --nb_outputs={len(labels)}"
        )
    return datasets


#: The corpora of ``recipes/SHD``, ``recipes/SSC``, ``recipes/HD`` and
#: ``recipes/SpeechCommands/run_sparch.py`` (the YAML's ``task``).
CORPUS_TASKS = {"shd": _spike_task("shd"), "ssc": _spike_task("ssc"),
                "hd": SpArchTask("HD", make_hd_fixture, _hd_audio_datasets),
                "speech_commands": SpArchTask("SpeechCommands", make_speech_commands_fixture,
                                              _speech_commands_datasets)}


def corpus_main(task: str) -> Callable[[Sequence[str] | None], SpArchBrain]:
    """The ``main(argv)`` of the recipe folder of one corpus of :data:`CORPUS_TASKS`.

    The training code is one for every corpus; each folder's script only names its corpus,
    and a YAML naming another ``task`` is refused with one line (:func:`choose_task`).
    """
    tasks = {task: CORPUS_TASKS[task]}
    return lambda argv=None: run_sparch_recipe(argv, tasks)
