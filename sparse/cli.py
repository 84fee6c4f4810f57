"""Command line of a trained model: ``python -m sparse {transcribe,classify,efficiency,info}``.

::

    python -m sparse transcribe <model folder> speech.wav            # one line per file
    python -m sparse classify <model folder> clips/ --json           # JSON Lines
    python -m sparse efficiency <model folder> files.txt             # operations and energy
    python -m sparse info <model folder>

See :data:`INPUTS_HELP` and :data:`OUTPUT_HELP` (printed by ``--help``) for the inputs, the
outputs and the exit status.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main", "expand_inputs", "INPUTS_HELP", "OUTPUT_HELP"]

EXIT_FILE_ERRORS, EXIT_USER_ERROR = 1, 2

INPUTS_HELP = """\
inputs:
  Audio files (any format soundfile reads, any sample rate, any number of channels), folders
  (every audio file below them, sorted) or list files (a text file naming one audio file per
  line; blank lines and text after '#' are skipped). Paths inside a list file are relative to
  the current directory, like the paths on the command line; write absolute paths to use a
  list from anywhere. URLs are refused: files are read locally, nothing is downloaded.
"""
OUTPUT_HELP = """\
output:
  One result line per audio file on stdout, in input order (efficiency: the table summed over
  every file, after one line per file with --per-file); --json: one JSON object per line, with
  the same keys in every line of a stream. A file that fails gives one line on stderr instead,
  '<file>: error: <why>', and the others go on; audio shorter than the model's minimum
  duration gives '<file>: warning: ...' on stderr, and its result. Exit status: 0 when every
  input gave a result, 1 when any failed, 2 when the model folder or an option is wrong
  (nothing is read then).
"""


def _inputs_of(item: str) -> tuple[list[Path], list[tuple[str, str]]]:
    """Audio files of one command-line input, and ``(input, why)`` for what names none."""
    from .data.audio import audio_extensions

    if "://" in item:  # before Path(), which would fold the '//'
        return [], [(item, "a URL: files are read locally, nothing is downloaded; download "
                           "it and give its path")]
    path = Path(item).expanduser()
    try:
        if not path.exists():
            return [], [(item, "input not found")]
        if path.is_dir():
            found = sorted(p for p in path.rglob("*")
                           if p.is_file() and p.suffix.lower() in audio_extensions())
            return found, [] if found else [(item, "no audio file in this folder (extensions: "
                                                   "those soundfile reads, e.g. .wav .flac)")]
        if path.suffix.lower() in audio_extensions():
            return [path], []
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return [], [(item, "neither an audio file (by its extension) nor a text list of files")]
    except OSError as err:
        return [], [(item, f"cannot read it: {err.strerror or err}")]
    files, problems = [], []
    for number, line in enumerate(text.splitlines(), 1):
        entry = line.split("#", 1)[0].strip()
        if "://" in entry:
            problems.append((entry, f"a URL (line {number} of {item}): files are read locally, "
                                    "nothing is downloaded; download it and give its path"))
        elif entry:  # relative to the current directory; a missing one fails when read
            files.append(Path(entry).expanduser())
    if not files and not problems:
        problems.append((item, "a list file that names no audio file"))
    return files, problems


def expand_inputs(inputs: Sequence[str]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Audio files named by ``inputs`` (see :data:`INPUTS_HELP`), and what names none.

    Returns
    -------
    files : list of Path
        In input order; list entries as written (relative to the current directory).
    problems : list of (str, str)
        ``(input, why)`` for each input, or list entry, that names no audio file.
    """
    files, problems = [], []
    for item in inputs:
        found, bad = _inputs_of(str(item))
        files += found
        problems += bad
    return files, problems


def _parser() -> argparse.ArgumentParser:
    prog = "python -m sparse" if sys.argv[0].endswith("__main__.py") else \
        os.path.basename(sys.argv[0]) or "sparse"
    parser = argparse.ArgumentParser(prog=prog, description="Use a trained sparse model folder.",
                                     epilog=INPUTS_HELP + "\n" + OUTPUT_HELP,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("model", help="model folder (<output_folder>/model of a training run)")
    common.add_argument("--device", default="cpu",
                        help="torch device, checked before the model loads (default: cpu)")
    common.add_argument("--backend", default=None,
                        help="neuron back-end (auto, reference, cpu, triton); default: the model's")
    common.add_argument("--json", action="store_true", help="JSON output (one object per line)")
    files = argparse.ArgumentParser(add_help=False)
    files.add_argument("inputs", nargs="+", help="audio files, folders, or list files")
    files.add_argument("--no-progress", action="store_true", help="no progress bar")
    epilog = dict(epilog=INPUTS_HELP + "\n" + OUTPUT_HELP,
                  formatter_class=argparse.RawDescriptionHelpFormatter)
    sub.add_parser("transcribe", parents=[common, files], **epilog,
                   help="phone transcription of each file (ASR models)")
    sub.add_parser("classify", parents=[common, files], **epilog,
                   help="label of each file (keyword-spotting and SpArch models)")
    eff = sub.add_parser("efficiency", parents=[common, files], **epilog,
                         help="spikes, synaptic operations and energy per second of audio")
    eff.add_argument("--per-file", action="store_true",
                     help="one line per file before the total (--json: one record per file, "
                          "then the total with \"file\": null)")
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


def _check_command(model, command: str) -> None:
    """The command fits the model's kind (before any file is read)."""
    from .inference import InferenceError

    if command == "transcribe" and not hasattr(model, "transcribe_file"):
        raise InferenceError(f"{type(model).__name__} models classify; use 'classify'")
    if command == "classify" and not hasattr(model, "label_file"):
        raise InferenceError(f"{type(model).__name__} models transcribe; use 'transcribe'")
    if getattr(model.hparams, "features", "") == "spikes":
        raise InferenceError(f"this model takes spike trains ({model.hparams.nb_inputs} "
                             "channels), not audio files; use it from Python "
                             "(classify_features, spikes_features)")
    if command == "efficiency":
        model.network()  # a non-spiking model fails here, once


def _result(model, command: str, path: Path, args):
    """One file's result: ``(text line, JSON record, efficiency or None)``."""
    if command == "transcribe":
        text = model.transcribe_file(path)
        return f"{path}\t{text}", {"file": str(path), "transcription": text}, None
    if command == "classify":
        label, probability, posteriors = model.label_file(path)
        return (f"{path}\t{label}\t{probability:.3f}", {"file": str(path), "label": label,
                "probability": probability, "posteriors": posteriors}, None)
    eff = model.efficiency_file(path, _energy(args))
    d = eff.to_dict()
    t = d["total"]
    line = (f"{path}\t{t['spikes_per_s']:.4g} spikes/s\t{t['synaptic_ops_per_s']:.4g} syn ops/s"
            f"\t{t['snn_energy_uj_per_s']:.4g} uJ/s (ANN {t['ann_energy_uj_per_s']:.4g})")
    return line, {"file": str(path), **d}, eff


def _run_files(model, args) -> int:
    from tqdm import tqdm

    from .errors import UserError

    files, problems = expand_inputs(args.inputs)
    for item, why in problems:
        print(f"{item}: error: {why}", file=sys.stderr)
    failed, total = len(problems), None
    quiet = args.no_progress or len(files) < 2  # else None: a bar when stderr is a terminal
    for path in tqdm(files, disable=True if quiet else None, unit="file", file=sys.stderr):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                line, record, eff = _result(model, args.command, path, args)
            except UserError as err:
                failed += 1
                tqdm.write(f"{path}: error: {err}", file=sys.stderr)
                continue
        for warning in caught:
            text = str(warning.message).removeprefix(f"{path}: ")
            tqdm.write(f"{path}: warning: {text}", file=sys.stderr)
        if eff is not None:
            total = eff if total is None else total + eff
        if args.command != "efficiency" or args.per_file:
            tqdm.write(json.dumps(record) if args.json else line, file=sys.stdout)
    if total is not None:
        print(json.dumps({"file": None, **total.to_dict()}) if args.json else total.format())
    return EXIT_FILE_ERRORS if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Problems the user can fix (:class:`sparse.errors.UserError`) end as one line on stderr;
    any other exception is a bug and keeps its traceback.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    from .errors import UserError
    from .inference import load_model
    from .inference.inputs import check_device

    try:
        check_device(args.device)
        overrides = {"backend": args.backend} if args.backend else None
        model = load_model(args.model, run_opts={"device": args.device}, overrides=overrides)
        if args.command == "info":
            info = model.info()
            print(json.dumps(info) if args.json else "\n".join(
                f"{k}: {v}" for k, v in info.items()))
            return 0
        _check_command(model, args.command)
        return _run_files(model, args)
    except UserError as err:
        print(f"{parser.prog} {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
