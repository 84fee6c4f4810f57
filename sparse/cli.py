"""Command line of a trained model: ``python -m sparse {transcribe,classify,efficiency,info}``.

::

    python -m sparse transcribe <model folder> speech.wav            # one line per file
    python -m sparse classify <model folder> clips/ --json           # JSON Lines
    python -m sparse efficiency <model folder> files.txt             # operations and energy
    python -m sparse info <model folder>

Inputs are audio files, folders (every audio file below them, sorted) or list files (one
path per line, relative to the list's folder; blank lines and ``#`` comments skipped).
Results go to stdout, a progress bar over several files and errors to stderr. A file that
cannot be read is reported and skipped (exit status 1 at the end); a model folder that
cannot be loaded stops at once (exit status 2).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main", "expand_inputs"]

EXIT_FILE_ERRORS, EXIT_USER_ERROR = 1, 2


def expand_inputs(inputs: Sequence[str]) -> list[Path]:
    """Audio files named by ``inputs`` (files, folders searched recursively, list files).

    Raises
    ------
    FileNotFoundError
        For an input that does not exist (entries of a list are checked when read).
    """
    from .data.audio import audio_extensions

    audio, out = audio_extensions(), []
    for item in inputs:
        path = Path(item)
        if not path.exists():
            raise FileNotFoundError(f"input not found: {path}")
        if path.is_dir():
            out += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in audio)
        elif path.suffix.lower() in audio:
            out.append(path)
        else:  # a list of files (entries that turn out missing are reported per file)
            for line in path.read_text(encoding="utf-8").splitlines():
                line = line.split("#", 1)[0].strip()
                if line:
                    entry = Path(line)
                    out.append(entry if entry.is_absolute() else path.parent / entry)
    return out


def _parser() -> argparse.ArgumentParser:
    prog = "python -m sparse" if sys.argv[0].endswith("__main__.py") else \
        os.path.basename(sys.argv[0]) or "sparse"
    parser = argparse.ArgumentParser(prog=prog, description="Use a trained sparse model folder.")
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("model", help="model folder (<output_folder>/model of a training run)")
    common.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    common.add_argument("--backend", default=None,
                        help="neuron back-end (auto, reference, cpu, triton); default: the model's")
    common.add_argument("--json", action="store_true", help="JSON output (one object per line)")
    files = argparse.ArgumentParser(add_help=False)
    files.add_argument("inputs", nargs="+", help="audio files, folders, or lists of files")
    files.add_argument("--no-progress", action="store_true", help="no progress bar")
    sub.add_parser("transcribe", parents=[common, files],
                   help="phone transcription of each file (ASR models)")
    sub.add_parser("classify", parents=[common, files],
                   help="label of each file (keyword-spotting and SpArch models)")
    eff = sub.add_parser("efficiency", parents=[common, files],
                         help="spikes, synaptic operations and energy per second of audio")
    eff.add_argument("--per-file", action="store_true", help="also one line per file")
    eff.add_argument("--ac-pj", type=float, default=None,
                     help="energy of an accumulate, pJ (default 0.9: 32-bit float, 45 nm)")
    eff.add_argument("--mac-pj", type=float, default=None,
                     help="energy of a multiply-accumulate, pJ (default 4.6)")
    sub.add_parser("info", parents=[common], help="what the model is")
    return parser


def _energy(args):
    from .efficiency import EnergyModel

    if args.ac_pj is None and args.mac_pj is None:
        return EnergyModel()
    default = EnergyModel()
    return EnergyModel(default.ac_pj if args.ac_pj is None else args.ac_pj,
                       default.mac_pj if args.mac_pj is None else args.mac_pj,
                       source="given on the command line")


def _result(model, command: str, path: Path, args) -> tuple[str, dict]:
    """One file's result as a text line and a JSON-ready dict."""
    if command == "transcribe":
        if not hasattr(model, "transcribe_file"):
            raise _WrongKind(f"{type(model).__name__} models classify; use 'classify'")
        text = model.transcribe_file(path)
        return f"{path}\t{text}", {"file": str(path), "transcription": text}
    if command == "classify":
        if not hasattr(model, "classify_file"):
            raise _WrongKind(f"{type(model).__name__} models transcribe; use 'transcribe'")
        label, score, posteriors = model.classify_file(path)
        return (f"{path}\t{label}\t{score:.3f}",
                {"file": str(path), "label": label, "score": score, "posteriors": posteriors})
    eff = model.efficiency_file(path, _energy(args))
    d = eff.to_dict()["total"]
    line = (f"{path}\t{d['spikes_per_s']:.4g} spikes/s\t{d['synaptic_ops_per_s']:.4g} syn ops/s"
            f"\t{d['snn_energy_uj_per_s']:.4g} uJ/s (ANN {d['ann_energy_uj_per_s']:.4g})")
    return line, {"file": str(path), "counts": eff, **d}


class _WrongKind(Exception):
    """The command does not fit the model's kind."""


def _run_files(model, args) -> int:
    from tqdm import tqdm

    files = expand_inputs(args.inputs)
    if not files:
        raise FileNotFoundError(f"no audio file found in {' '.join(args.inputs)}")
    failed, total = 0, None
    quiet = args.no_progress or len(files) < 2  # else None: a bar when stderr is a terminal
    bar = tqdm(files, disable=True if quiet else None, unit="file", file=sys.stderr)
    for path in bar:
        try:
            line, record = _result(model, args.command, path, args)
        except _WrongKind:
            raise
        except (ValueError, OSError) as err:  # InferenceError is a ValueError
            failed += 1
            tqdm.write(f"{path}: error: {err}", file=sys.stderr)
            continue
        counts = record.pop("counts", None)
        if counts is not None:
            total = counts if total is None else total + counts
        if args.command != "efficiency" or args.per_file:
            tqdm.write(json.dumps(record) if args.json else line, file=sys.stdout)
    if total is not None:
        print(json.dumps(total.to_dict()) if args.json else total.format())
    return EXIT_FILE_ERRORS if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    prog = _parser().prog
    from .inference import InferenceError, load_model

    try:
        overrides = {"backend": args.backend} if args.backend else None
        model = load_model(args.model, run_opts={"device": args.device}, overrides=overrides)
        if args.command == "efficiency":
            model.network()  # a non-spiking model fails here, once
        if args.command == "info":
            info = model.info()
            print(json.dumps(info) if args.json else "\n".join(
                f"{k}: {v}" for k, v in info.items()))
            return 0
        return _run_files(model, args)
    except (InferenceError, FileNotFoundError, _WrongKind) as err:
        print(f"{prog} {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
