"""From a finished training run to a model folder, plus the run's ``efficiency.txt``.

Each recipe ends its ``main()`` with one call::

    export_trained_model(brain, hparams_file, "asr", test_set=datasets["test"], min_key="PER",
                         trained_on="TIMIT")

which writes ``<output_folder>/model/`` (see :mod:`sparse.inference.folder`) and
``<output_folder>/efficiency.txt`` (operations and energy per second of audio over the first
test utterances, see :mod:`sparse.efficiency`).

The inference YAML is the training YAML's own definition of the modules inference needs,
with every reference resolved from the values the run really used (the loaded
hyperparameters, so command-line overrides and a recipe's ``sample:`` block are included).
Before the folder replaces an older one it is loaded back and its encoder compared, attribute
by attribute, with the trained one, so a folder that would not rebuild the same network is
never written.
"""

from __future__ import annotations

import datetime
import io
import logging
import re
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import __version__
from .folder import FORMAT_VERSION, HPARAMS_FILE, KINDS, LABELS_FILE, README_FILE
from .interfaces import SpikingModel, load_model

__all__ = ["MAX_EFFICIENCY_UTTERANCES", "export_trained_model", "inference_yaml",
           "dataset_efficiency", "write_efficiency_report", "interface_from_training",
           "write_analysis_efficiency"]

logger = logging.getLogger(__name__)

#: Test utterances counted for ``efficiency.txt`` (the first ones, in the test set's order).
MAX_EFFICIENCY_UTTERANCES = 100


def _is_plain(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    return isinstance(value, (list, tuple)) and all(_is_plain(v) for v in value)


def _clean(node: Any) -> Any:
    """A copy of a ruamel node without comments or anchors, tags kept, lists in flow style."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    tag = getattr(getattr(node, "tag", None), "value", None)
    if isinstance(node, dict):
        out = CommentedMap((k, _clean(v)) for k, v in node.items())
    elif isinstance(node, (list, tuple)):
        out = CommentedSeq(_clean(v) for v in node)
        if all(not isinstance(v, (dict, list, tuple)) for v in node):
            out.fa.set_flow_style()
    else:
        return node
    if tag:
        out.yaml_set_ctag(node.tag)
    return out


def inference_yaml(hparams_file: str | Path, hparams: dict, kind: str, meta: dict) -> str:
    """The inference HyperPyYAML of a run: ``meta``, then the needed blocks of its YAML.

    References are resolved with every plain top-level value of the loaded ``hparams``; the
    encoder's ``backend`` becomes ``!ref <backend>`` (a top-level key, overridable at load).
    """
    import ruamel.yaml
    from hyperpyyaml.core import resolve_references
    from ruamel.yaml.comments import CommentedMap, TaggedScalar

    plain = {k: v for k, v in hparams.items() if _is_plain(v)}
    with open(hparams_file, encoding="utf-8") as stream:
        text = resolve_references(stream, plain).getvalue()
    yaml = ruamel.yaml.YAML()
    yaml.width = 100
    doc = yaml.load(text)
    out = CommentedMap(meta)
    model = doc["model"]
    out["backend"] = str(model.get("backend", "auto")) if hasattr(model, "get") else "auto"
    for key in KINDS[kind].stateless + KINDS[kind].weighted:
        out[key] = _clean(doc[key])
    if hasattr(out["model"], "get") and "backend" in out["model"]:
        out["model"]["backend"] = TaggedScalar("<backend>", tag="!ref")
    out["modules"] = CommentedMap((k, TaggedScalar(f"<{k}>", tag="!ref"))
                                  for k in KINDS[kind].weighted)
    stream = io.StringIO()
    stream.write(f"# sparse {kind} model, inference description (written by "
                 "sparse.inference.export).\n# Load it with sparse.inference.load_model(<this "
                 "folder>); weights are in <module>.ckpt.\n")
    yaml.dump(out, stream)
    return stream.getvalue()


def _metadata(kind: str, hp: dict) -> dict[str, Any]:
    """Input and time-step description of a run, by model kind.

    ``dt_ms`` is the model's own step (its ``dt``), written for the README and for readers of
    the folder; the interfaces take it from the model.
    """
    dt_ms = float(getattr(hp["model"], "module", hp["model"]).dt)
    if kind in ("asr", "kws"):
        meta = {"features": "fbank", "sample_rate": int(hp["sample_rate"]),
                "resampler": "polyphase", "n_mels": int(hp["n_mels"]), "dt_ms": dt_ms,
                "clip_samples": int(hp["clip_samples"]) if kind == "kws" else None}
        meta["input_description"] = (
            f"{meta['sample_rate']} Hz mono audio -> {meta['n_mels']} log-mel bands, hop = dt")
        if kind == "kws":
            meta["input_description"] += (f"; clips padded or cut to "
                                          f"{meta['clip_samples'] / meta['sample_rate']:g} s")
        if kind == "asr":
            meta["blank_index"] = int(hp["blank_index"])
        return meta
    if "max_time" in hp and "nb_steps" in hp:  # SHD / SSC: binned spike trains
        return {"features": "spikes", "sample_rate": None, "resampler": "polyphase",
                "clip_samples": None, "nb_inputs": int(hp["nb_inputs"]),
                "dt_ms": dt_ms,
                "input_description": f"{hp['nb_inputs']} spike channels in {hp['nb_steps']} "
                                     f"bins over {hp['max_time']} s"}
    from ..data.hd import SAMPLE_RATE

    return {"features": "kaldi_fbank", "sample_rate": SAMPLE_RATE, "resampler": "sinc",
            "clip_samples": None, "n_mels": int(hp["n_mels"]), "dt_ms": dt_ms,
            "input_description": f"{SAMPLE_RATE} Hz mono audio -> {hp['n_mels']} Kaldi log-mel "
                                 f"bands, {dt_ms:g} ms frames"}


def _recoverable_file(checkpointer, ckpt, obj: Any) -> Path:
    """The file of ``ckpt`` holding the recoverable ``obj`` (found by identity)."""
    for name, recoverable in checkpointer.recoverables.items():
        if recoverable is obj:
            return Path(ckpt.paramfiles[name])
    raise KeyError(f"{type(obj).__name__} is not among the checkpointer's recoverables "
                   f"{sorted(checkpointer.recoverables)}")


def _checkpoint_epoch(checkpointer, ckpt) -> int | None:
    from speechbrain.utils.epoch_loop import EpochCounter

    for name, recoverable in checkpointer.recoverables.items():
        if isinstance(recoverable, EpochCounter) and name in ckpt.paramfiles:
            text = Path(ckpt.paramfiles[name]).read_text().strip()
            return int(text) if text.isdigit() else None
    return None


def _test_stats(train_log: Path) -> dict[str, str]:
    """``{key: value}`` of the last ``test ...`` entries of a SpeechBrain ``train_log.txt``."""
    if not train_log.is_file():
        return {}
    lines = [ln for ln in train_log.read_text().splitlines() if " test " in f" {ln}"]
    return dict(re.findall(r"test ([\w-]+): ([^,\s]+)", lines[-1])) if lines else {}


def _metric_text(ckpt, key: str | None, epoch: int | None, tests: dict[str, str]) -> str:
    parts = []
    if key and key in ckpt.meta:
        at = f" (selected checkpoint, epoch {epoch})" if epoch is not None else ""
        parts.append(f"validation {key} {float(ckpt.meta[key]):.4g}{at}")
    if key and key in tests:
        parts.append(f"test {key} {tests[key]}")
    return "; ".join(parts)


def _config(module: nn.Module) -> dict[str, Any]:
    """Plain attributes of every submodule (sizes, dt, portions, limits, back-end)."""
    out = {}
    for name, sub in module.named_modules():
        for key, value in vars(sub).items():
            if not key.startswith("_") and key != "training" and _is_plain(value):
                out[f"{name}.{key}"] = value
    return out


def _check_same_network(loaded: nn.Module, trained: nn.Module, folder: Path) -> None:
    a, b = _config(loaded), _config(getattr(trained, "module", trained))
    diff = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
    if diff:
        raise RuntimeError(f"the model folder {folder} would not rebuild the trained encoder: "
                           f"{[(k, a.get(k), b.get(k)) for k in diff[:5]]}")


def _write_labels(kind: str, hp: dict, path: Path) -> None:
    """The run's label encoder, or class names for SpArch (``labels.txt`` or indices)."""
    if kind == "asr":
        shutil.copyfile(hp["label_encoder_file"], path)
        return
    save = Path(hp["save_folder"])
    if kind == "kws":
        shutil.copyfile(save / LABELS_FILE, path)
        return
    from speechbrain.dataio.encoder import CategoricalEncoder

    listed = Path(hp.get("manifest_folder") or save) / "labels.txt"
    names = listed.read_text().split() if listed.is_file() else \
        [str(i) for i in range(int(hp["nb_outputs"]))]
    encoder = CategoricalEncoder()
    encoder.update_from_iterable(names)
    encoder.save(path)


def dataset_efficiency(interface: SpikingModel, dataset, max_items: int | None = None,
                       batch_size: int = 8):
    """Summed :class:`~sparse.efficiency.Efficiency` over a SpeechBrain dataset.

    The dataset yields ``sig`` (waveforms, read as the recipe read them) or ``feats``
    (model input, SpArch). Only its first ``max_items`` items are used.
    """
    from speechbrain.dataio.dataloader import make_dataloader

    if max_items is not None and len(dataset) > max_items:
        dataset = dataset.filtered_sorted(select_n=int(max_items))
    total = None
    for batch in make_dataloader(dataset, batch_size=batch_size):
        if hasattr(batch, "sig"):
            enc = interface.spikes_batch(*batch.sig)
        else:
            enc = interface.spikes_features(*batch.feats)
        counts = interface.efficiency_of(enc)
        total = counts if total is None else total + counts
    return total


def write_efficiency_report(interface: SpikingModel, dataset, path: str | Path,
                            max_items: int | None = MAX_EFFICIENCY_UTTERANCES, title: str = ""):
    """Count operations over ``dataset`` and write the text table to ``path``; return them."""
    eff = dataset_efficiency(interface, dataset, max_items)
    if eff is None:
        return None
    n = len(dataset) if max_items is None else min(len(dataset), max_items)
    head = title or f"{type(interface.mods.model).__name__}"
    Path(path).write_text(f"{head}: {n} utterances\n{eff.format()}\n")
    return eff


def interface_from_training(hp: dict, kind: str) -> SpikingModel:
    """An interface over a training run's live modules (no folder), e.g. after an analysis."""
    from .interfaces import INTERFACES

    modules = {k: hp[k] for k in KINDS[kind].weighted}
    hparams = {"sparse_model": FORMAT_VERSION, "kind": kind, **_metadata(kind, hp),
               **{k: hp[k] for k in KINDS[kind].stateless}, "modules": modules}
    device = str(next(hp["model"].parameters()).device)
    return INTERFACES[kind](modules=modules, hparams=hparams, run_opts={"device": device},
                             freeze_params=False)


def write_analysis_efficiency(train_hp: dict, kind: str, dataset) -> Path:
    """``<output_folder>/analysis/efficiency.txt`` over the analysed utterances.

    Call after the analysis, whose Brain has loaded the selected checkpoint into the modules.
    """
    path = Path(train_hp["output_folder"]) / "analysis" / "efficiency.txt"
    write_efficiency_report(interface_from_training(train_hp, kind), dataset, path, None,
                            f"analysed utterances of {train_hp['output_folder']}")
    return path


def _readme(kind: str, meta: dict, info: dict, eff) -> str:
    cls, call, cli = KINDS[kind].interface, KINDS[kind].example, KINDS[kind].command
    pops = ", ".join(f"{k} {v}" for k, v in info["populations"].items())
    lines = [
        f"# {info['encoder']} ({kind}), sparse {__version__}", "",
        f"- Trained on: {meta['trained_on'] or 'see the training run'}",
        f"- Metric: {meta['metric'] or 'not recorded'}",
        f"- Time step: dt = {meta['dt_ms']:g} ms ({1000.0 / meta['dt_ms']:g} steps per second)",
        f"- Input: {meta['input_description']}",
        f"- Populations (neurons): {pops or 'none (non-spiking baseline)'}",
        f"- Parameters: {info['parameters']}; labels: {info['labels']}",
        f"- Written: {meta['exported']}",
    ]
    if eff is not None:
        ratio = eff.ann_energy_uj() / max(eff.snn_energy_uj(), 1e-30)
        lines.append(f"- Test audio: {eff.total('spikes') / eff.duration_s:.4g} spikes/s, "
                     f"{eff.total('synaptic_ops') / eff.duration_s:.4g} synaptic ops/s; "
                     f"arithmetic energy ANN/SNN {ratio:.2f} (see efficiency.txt of the run)")
    lines += [
        "", "## Use", "", "```python", f"from sparse.inference import {cls}",
        f'model = {cls}.from_hparams(source="path/to/this/folder")', f"model.{call}",
        "```", "", "```bash", f"python -m sparse {cli} path/to/this/folder speech.wav",
        "python -m sparse info path/to/this/folder", "```", "",
        f"Files: `{HPARAMS_FILE}` (inference YAML), `<module>.ckpt` (weights, loaded with "
        f"`torch.load(weights_only=True)`), `{LABELS_FILE}`.", "",
    ]
    return "\n".join(lines)


def export_trained_model(
    brain,
    hparams_file: str | Path,
    kind: str,
    *,
    test_set=None,
    min_key: str | None = None,
    max_key: str | None = None,
    trained_on: str = "",
    max_utterances: int = MAX_EFFICIENCY_UTTERANCES,
) -> Path | None:
    """Write ``<output_folder>/model/`` and ``<output_folder>/efficiency.txt`` of a run.

    Parameters
    ----------
    brain : speechbrain.Brain
        The trained recipe Brain (its ``hparams``, ``checkpointer`` and ``device``).
    hparams_file : str or Path
        The training YAML the run loaded.
    kind : {"asr", "kws", "sparch"}
        Which interface loads the model.
    test_set : DynamicItemDataset, optional
        Yields ``sig`` or ``feats``; its first ``max_utterances`` items are counted for
        ``efficiency.txt`` (skipped for non-spiking models).
    min_key, max_key : str
        Checkpoint selection, as given to ``evaluate`` (e.g. ``min_key="PER"``).
    trained_on : str
        What the model was trained on, for its README (corpus, task, sample or full data).

    Returns
    -------
    Path or None
        The model folder (``None`` on other processes than the main one, or without
        checkpoint).
    """
    from speechbrain.utils.distributed import if_main_process

    if not if_main_process():
        return None
    hp = dict(vars(brain.hparams))
    out = Path(hp["output_folder"])
    ckpt = brain.checkpointer.find_checkpoint(min_key=min_key, max_key=max_key)
    if ckpt is None:
        logger.warning("no checkpoint in %s: no model folder written", hp["save_folder"])
        return None
    key = min_key or max_key
    epoch = _checkpoint_epoch(brain.checkpointer, ckpt)
    meta = {"sparse_model": FORMAT_VERSION, "kind": kind, "trained_on": trained_on,
            "metric": _metric_text(ckpt, key, epoch, _test_stats(Path(hp["train_log"]))),
            "exported": datetime.date.today().isoformat(), **_metadata(kind, hp)}
    partial = out / "model.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    (partial / HPARAMS_FILE).write_text(inference_yaml(hparams_file, hp, kind, meta))
    for name in KINDS[kind].weighted:
        state = torch.load(_recoverable_file(brain.checkpointer, ckpt, hp[name]),
                           map_location="cpu", weights_only=True)
        torch.save(state, partial / f"{name}.ckpt")
    _write_labels(kind, hp, partial / LABELS_FILE)
    interface = load_model(partial, run_opts={"device": str(brain.device)})
    _check_same_network(interface.mods.model, hp["model"], partial)
    eff = None
    if test_set is not None and interface.population_names:
        eff = write_efficiency_report(interface, test_set, out / "efficiency.txt", max_utterances,
                                      f"{trained_on} test set, model {ckpt.path.name}")
    (partial / README_FILE).write_text(_readme(kind, meta, interface.info(), eff))
    folder = out / "model"
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    logger.info("model folder written to %s (load it with sparse.inference.load_model)", folder)
    return folder
