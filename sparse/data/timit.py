"""TIMIT (LDC93S1) for phone recognition with the 39-phone set: manifests, folding, checks.

Reads a TIMIT copy laid out as ``TRAIN/`` and ``TEST/`` with dialect-region and speaker folders
(``TRAIN/DR1/FCJF0/SI1027.WAV`` + ``.PHN`` + ``.WRD`` + ``.TXT``), in upper or lower case, with
audio as NIST SPHERE or RIFF WAV. It writes three JSON manifests into ``save_folder``:

* ``train.json``: TRAIN minus the SA sentences (462 speakers, 3,696 utterances);
* ``dev.json``: the standard 50-speaker development set from TEST (400 utterances);
* ``test.json``: the 24-speaker core test set from TEST (192 utterances).

Each entry is ``{"wav": "{data_root}/...", "duration": s, "spk_id": str, "phn": "sil b ...",
"wrd": "..."}``; ``{data_root}`` is replaced by the data folder when the manifest is loaded
(``DynamicItemDataset.from_json(..., replacements={"data_root": ...})``), so manifests are
portable. Phones are folded from the 61 TIMIT labels to 39 (``h#`` → ``sil``, ``q`` removed, runs
of ``sil`` merged). The work is skipped when the manifests exist and were written with the same
options. :func:`validate_manifest` checks a manifest in this format before training (any
corpus written in it, not only TIMIT), and :func:`phone_segments` reads the folded phones of
an utterance with their timing, for the analysis's figures.

``recipes/TIMIT/timit_prepare.py`` re-exports :func:`prepare_timit` as SpeechBrain recipes
name their preparer.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from ..errors import RecipeError
from .audio import check_audio_files

__all__ = ["SAMPLE_RATE", "SPLITS", "EXPECTED_UTTERANCES", "OPTIONS_FILE", "TIMIT39_PHONES",
           "FOLD_61_TO_39", "CORE_TEST_SPEAKERS", "DEV_SPEAKERS", "fold_phones", "read_phn",
           "read_words", "phone_segments", "find_timit_root", "list_utterances", "make_entry",
           "manifests_up_to_date", "prepare_timit", "validate_manifest"]

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
SPLITS = ("train", "dev", "test")
EXPECTED_UTTERANCES = {"train": 3696, "dev": 400, "test": 192}
OPTIONS_FILE = "timit_prepare_options.json"

#: The 39 folded phones, in a fixed order (label index = position + 1; 0 is the CTC blank).
TIMIT39_PHONES: tuple[str, ...] = (
    "aa", "ae", "ah", "aw", "ay", "b", "ch", "d", "dh", "dx", "eh", "er", "ey", "f", "g",
    "hh", "ih", "iy", "jh", "k", "l", "m", "n", "ng", "ow", "oy", "p", "r", "s", "sh",
    "sil", "t", "th", "uh", "uw", "v", "w", "y", "z",
)  # fmt: skip

#: 61 → 39 folding (Lee & Hon 1989). An empty string deletes the phone.
FOLD_61_TO_39: dict[str, str] = {p: p for p in TIMIT39_PHONES if p != "sil"}
FOLD_61_TO_39.update(
    {
        "ao": "aa", "ax": "ah", "ax-h": "ah", "axr": "er", "ix": "ih", "el": "l", "em": "m",
        "en": "n", "eng": "ng", "nx": "n", "hv": "hh", "ux": "uw", "zh": "sh",
        "bcl": "sil", "dcl": "sil", "gcl": "sil", "kcl": "sil", "pcl": "sil", "tcl": "sil",
        "pau": "sil", "epi": "sil", "h#": "sil", "q": "",
    }
)  # fmt: skip

#: The 24 speakers of the core test set (2 male + 1 female per dialect region).
CORE_TEST_SPEAKERS: frozenset[str] = frozenset(
    """
    mdab0 mwbt0 felc0 mtas1 mwew0 fpas0 mjmp0 mlnt0 fpkt0 mlll0 mtls0 fjlm0
    mbpm0 mklt0 fnlp0 mcmj0 mjdh0 fmgd0 mgrt0 mnjm0 fdhc0 mjln0 mpam0 fmld0
    """.split()
)

#: The standard 50-speaker development set (from TEST, disjoint from the core test set).
DEV_SPEAKERS: frozenset[str] = frozenset(
    """
    fadg0 faks0 fcal1 fcmh0 fdac1 fdms0 fdrw0 fedw0 fgjd0 fjem0 fjmg0 fjsj0 fkms0
    fmah0 fmml0 fnmr0 frew0 fsem0 majc0 mbdg0 mbns0 mbwm0 mcsh0 mdlf0 mdls0 mdvc0
    mers0 mgjf0 mglb0 mgwt0 mjar0 mjfc0 mjsw0 mmdb1 mmdm2 mmjr0 mmwh0 mpdf0 mrcs0
    mreb0 mrjm4 mrjr0 mroa0 mrtk0 mrws1 mtaa0 mtdt0 mteb0 mthc0 mwjg0
    """.split()
)


def fold_phones(labels: Iterable[str], *, source: str = "") -> list[str]:
    """Fold TIMIT-61 labels to the 39-phone set, drop ``q``, merge runs of ``sil``.

    Parameters
    ----------
    labels : iterable of str
        TIMIT labels in file order (any case).
    source : str
        File name used in the error message.

    Returns
    -------
    list of str
        Folded phones.

    Raises
    ------
    RecipeError
        If a label is not one of the 61 TIMIT labels.

    Examples
    --------
    >>> fold_phones(["h#", "sh", "ix", "q", "pau", "h#"])
    ['sil', 'sh', 'ih', 'sil']
    """
    folded: list[str] = []
    for label in labels:
        key = label.strip().lower()
        if key not in FOLD_61_TO_39:
            raise RecipeError(f"unknown phone label '{label}' in {source or 'transcription'}")
        phone = FOLD_61_TO_39[key]
        if not phone or (phone == "sil" and folded and folded[-1] == "sil"):
            continue
        folded.append(phone)
    return folded


def read_phn(path: Path) -> list[str]:
    """Read the labels of a TIMIT ``.PHN`` file (``start end label`` per line, samples)."""
    labels = []
    for number, line in enumerate(path.read_text(encoding="latin-1").splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 3:
            raise RecipeError(f"{path}:{number}: expected 'start end label', got {line!r}")
        labels.append(fields[2])
    return labels


def phone_segments(wav: str | Path, sample_rate: int) -> list[tuple[float, float, str]] | None:
    """Folded 39-phone segments ``(start s, end s, phone)`` from the ``.PHN`` file next to ``wav``.

    Labels outside the 61 (and ``q``, which folds to nothing) are left out; ``sil`` runs are
    kept as written. ``None`` when there is no ``.PHN``/``.phn`` file.

    Parameters
    ----------
    wav : str or Path
        The utterance's audio file.
    sample_rate : int
        Rate of the sample positions in the ``.PHN`` file (Hz).
    """
    for suffix in (".PHN", ".phn"):
        phn = Path(wav).with_suffix(suffix)
        if phn.is_file():
            segments = []
            for line in phn.read_text(encoding="latin-1").split("\n"):
                fields = line.split()
                if len(fields) == 3 and FOLD_61_TO_39.get(fields[2].lower()):
                    start, end = int(fields[0]) / sample_rate, int(fields[1]) / sample_rate
                    segments.append((start, end, FOLD_61_TO_39[fields[2].lower()]))
            return segments
    return None


def read_words(stem: Path) -> str:
    """Words of an utterance from its ``.WRD`` file, else from its ``.TXT`` file ('' if none)."""
    wrd = _sibling(stem, ".wrd")
    if wrd is not None:
        lines = wrd.read_text(encoding="latin-1").split("\n")
        return " ".join(line.split()[2] for line in lines if len(line.split()) == 3)
    txt = _sibling(stem, ".txt")
    if txt is not None:
        return " ".join(txt.read_text(encoding="latin-1").split()[2:])
    return ""


def _sibling(stem: Path, suffix: str) -> Path | None:
    """The file ``stem + suffix`` in lower or upper case, if it exists."""
    for candidate in (stem.with_suffix(suffix.lower()), stem.with_suffix(suffix.upper())):
        if candidate.is_file():
            return candidate
    return None


def _child_ci(folder: Path, name: str) -> Path | None:
    """Child of ``folder`` named ``name`` in any case, or None."""
    for child in folder.iterdir():
        if child.name.lower() == name.lower() and child.is_dir():
            return child
    return None


def find_timit_root(data_folder: str | Path) -> Path:
    """Locate the folder holding ``TRAIN/`` and ``TEST/`` (the folder itself or one level down).

    Raises
    ------
    RecipeError
        If the folder is missing, empty, or holds no TIMIT layout.
    """
    folder = Path(data_folder)
    if not folder.is_dir():
        raise RecipeError(f"TIMIT data folder not found: {folder}")
    if not any(folder.iterdir()):
        raise RecipeError(f"TIMIT data folder is empty: {folder}")
    candidates = [folder] + sorted(p for p in folder.iterdir() if p.is_dir())
    for candidate in candidates:
        if _child_ci(candidate, "train") and _child_ci(candidate, "test"):
            return candidate
    raise RecipeError(
        f"no TIMIT layout in {folder}: expected TRAIN/ and TEST/ folders (any case), "
        "directly or one level below"
    )


def _speaker_folders(split_dir: Path) -> list[Path]:
    """Speaker folders ``<split>/<DRn>/<SPK>`` sorted by name."""
    return sorted(
        spk
        for region in split_dir.iterdir()
        if region.is_dir() and region.name.lower().startswith("dr")
        for spk in region.iterdir()
        if spk.is_dir()
    )


def list_utterances(root: Path) -> dict[str, list[Path]]:
    """Audio files of each split (SA sentences dropped), sorted by path.

    Parameters
    ----------
    root : Path
        Folder holding ``TRAIN/`` and ``TEST/``.

    Returns
    -------
    dict
        ``{"train": [...], "dev": [...], "test": [...]}`` of ``.wav`` paths.
    """
    splits: dict[str, list[Path]] = {name: [] for name in SPLITS}
    for part in ("train", "test"):
        for spk in _speaker_folders(_child_ci(root, part)):
            name = spk.name.lower()
            if part == "train":
                split = "train"
            elif name in DEV_SPEAKERS:
                split = "dev"
            elif name in CORE_TEST_SPEAKERS:
                split = "test"
            else:
                continue
            wavs = [
                f for f in sorted(spk.iterdir())
                if f.suffix.lower() == ".wav" and not f.stem.lower().startswith("sa")
            ]  # fmt: skip
            splits[split].extend(wavs)
    return splits


def make_entry(wav: Path, data_folder: Path) -> tuple[str, dict]:
    """Manifest entry of one utterance, its path relative to ``data_folder``.

    Returns
    -------
    utt_id : str
        ``<SPEAKER>_<SENTENCE>`` in upper case, e.g. ``FADG0_SI1279``.
    entry : dict
        ``wav`` ({data_root}-relative), ``duration`` (s), ``spk_id``, ``phn`` (39 set), ``wrd``.
    """
    import soundfile

    phn_file = _sibling(wav.with_suffix(""), ".phn")
    if phn_file is None:
        raise RecipeError(f"phone transcription (.PHN) missing for {wav}")
    utt_id = f"{wav.parent.name}_{wav.stem}".upper()
    # header only here; validate_manifest decodes every file before training (cached)
    check_audio_files({utt_id: str(wav)}, sample_rate=SAMPLE_RATE, where="TIMIT", decode=False)
    info = soundfile.info(str(wav))
    phones = fold_phones(read_phn(phn_file), source=str(phn_file))
    if not phones:
        raise RecipeError(f"no phones in {phn_file}")
    entry = {
        "wav": "{data_root}/" + Path(os.path.relpath(wav, data_folder)).as_posix(),
        "duration": round(info.frames / info.samplerate, 4),
        "spk_id": wav.parent.name.upper(),
        "phn": " ".join(phones),
        "wrd": read_words(wav.with_suffix("")),
    }
    return utt_id, entry


def _options(data_folder: Path) -> dict:
    """Options that decide whether existing manifests are still valid."""
    return {"data_folder": str(data_folder.resolve()), "version": 1}


def manifests_up_to_date(save_folder: str | Path, data_folder: str | Path) -> bool:
    """True when all manifests exist and were prepared from the same data folder."""
    save = Path(save_folder)
    options_file = save / OPTIONS_FILE
    if not options_file.is_file() or not all((save / f"{s}.json").is_file() for s in SPLITS):
        return False
    try:
        return json.loads(options_file.read_text()) == _options(Path(data_folder))
    except json.JSONDecodeError:
        return False


def prepare_timit(
    data_folder: str | Path,
    save_folder: str | Path,
    skip_prep: bool = False,
    check_counts: bool = True,
) -> dict[str, Path]:
    """Write ``train.json``, ``dev.json`` and ``test.json`` for TIMIT into ``save_folder``.

    Parameters
    ----------
    data_folder : str or Path
        The TIMIT copy (holding ``TRAIN/`` and ``TEST/``, or one folder containing them). The
        manifests' ``{data_root}`` stands for this folder.
    save_folder : str or Path
        Where the manifests and ``timit_prepare_options.json`` go.
    skip_prep : bool
        Do nothing (the manifests must then exist already).
    check_counts : bool
        Warn when a split does not have the standard number of utterances (partial copy).

    Returns
    -------
    dict
        Split name to manifest path.

    Raises
    ------
    RecipeError
        Missing/empty data folder, no TIMIT layout, missing/corrupt audio, unknown phone label.
    """
    save = Path(save_folder)
    paths = {split: save / f"{split}.json" for split in SPLITS}
    if skip_prep:
        return paths
    data = Path(data_folder)
    if manifests_up_to_date(save, data):
        logger.info("TIMIT manifests in %s are up to date, skipping preparation", save)
        return paths
    root = find_timit_root(data)
    splits = list_utterances(root)
    save.mkdir(parents=True, exist_ok=True)
    for split, wavs in splits.items():
        if not wavs:
            raise RecipeError(f"no utterances found for the TIMIT {split} set under {root}")
        if check_counts and len(wavs) != EXPECTED_UTTERANCES[split]:
            logger.warning(
                "TIMIT %s: %d utterances (standard: %d); is the copy complete?",
                split, len(wavs), EXPECTED_UTTERANCES[split],
            )  # fmt: skip
        manifest = dict(make_entry(wav, data) for wav in wavs)
        _write_json(paths[split], manifest)
        logger.info("wrote %s (%d utterances)", paths[split], len(manifest))
    _write_json(save / OPTIONS_FILE, _options(data))
    return paths


def _write_json(path: Path, content: dict) -> None:
    """Write JSON atomically (a crash never leaves half a manifest)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def validate_manifest(
    path: str | Path,
    data_root: str | Path,
    *,
    check_audio: bool = True,
    audio_cache: str | Path | None = None,
) -> int:
    """Check a manifest before training: readable JSON, known phones, audio present and decodable.

    Parameters
    ----------
    path : str or Path
        JSON manifest in the format written by :func:`prepare_timit`.
    data_root : str or Path
        Replacement for ``{data_root}``.
    check_audio : bool
        Also decode every audio file to its last sample (missing, truncated, corrupt or
        wrong-rate files are all reported in one error).
    audio_cache : str or Path, optional
        JSON file recording the files that passed, so that a second run skips them while their
        size and modification time are unchanged (see :func:`~sparse.data.audio.check_audio_files`).

    Returns
    -------
    int
        Number of utterances.

    Raises
    ------
    RecipeError
        Naming the manifest and the first bad entry, or every bad audio file.
    """
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"manifest not found: {path}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise RecipeError(f"manifest {path} is not valid JSON: {err}") from err
    if not isinstance(manifest, dict) or not manifest:
        raise RecipeError(f"manifest {path} holds no utterances")
    known = set(TIMIT39_PHONES)
    wavs = {}
    for utt_id, entry in manifest.items():
        missing = {"wav", "duration", "phn"} - set(entry)
        if missing:
            raise RecipeError(f"{path}: utterance '{utt_id}' lacks {sorted(missing)}")
        unknown = [p for p in entry["phn"].split() if p not in known]
        if unknown or not entry["phn"].split():
            raise RecipeError(
                f"{path}: utterance '{utt_id}' has unknown phone label(s) {unknown} "
                "(expected the 39-phone TIMIT set)"
            )
        wavs[utt_id] = entry["wav"].replace("{data_root}", str(data_root))
    if check_audio:
        check_audio_files(wavs, sample_rate=SAMPLE_RATE, where=str(path), cache_file=audio_cache)
    return len(manifest)
