"""TIMIT data code on a generated TIMIT-layout tree (RIFF and NIST SPHERE audio, both cases)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

import sparse.data.timit as tp
from sparse.recipe import RecipeError

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "TIMIT"

PHN = [
    ("h#", 0, 800), ("sh", 800, 1600), ("ix", 1600, 2400), ("q", 2400, 2600),
    ("hv", 2600, 3200), ("pau", 3200, 3600), ("epi", 3600, 4000), ("h#", 4000, 4800),
]  # fmt: skip

SPEAKERS = {  # split folder, region, speaker, expected split
    "train": [("TRAIN", "DR1", "FCJF0"), ("TRAIN", "DR2", "MABC0")],
    "dev": [("TEST", "DR4", "FADG0")],
    "test": [("TEST", "DR1", "MDAB0")],
    "none": [("TEST", "DR3", "MZZZ9")],
}


def write_utterance(folder: Path, stem: str, upper: bool, sphere: bool) -> None:
    """One utterance: 0.3 s of noise as .WAV plus .PHN/.WRD/.TXT."""
    folder.mkdir(parents=True, exist_ok=True)
    ext = (lambda e: e.upper()) if upper else (lambda e: e.lower())
    wave = np.random.default_rng(0).normal(0, 0.1, 4800).astype("float32")
    fmt = "NIST" if sphere else "WAV"
    soundfile.write(str(folder / (stem + ext(".wav"))), wave, 16000, format=fmt, subtype="PCM_16")
    (folder / (stem + ext(".phn"))).write_text("".join(f"{a} {b} {p}\n" for p, a, b in PHN))
    (folder / (stem + ext(".wrd"))).write_text("800 2400 she\n2600 3200 had\n")
    (folder / (stem + ext(".txt"))).write_text("0 4800 She had.\n")


def make_tree(root: Path, upper: bool = True, sphere: bool = False) -> Path:
    """A tiny TIMIT copy: every speaker has SA1, SI1 and SX2."""
    case = (lambda s: s.upper()) if upper else (lambda s: s.lower())
    for speakers in SPEAKERS.values():
        for part, region, spk in speakers:
            for stem in ("SA1", "SI1", "SX2"):
                write_utterance(root / case(part) / case(region) / case(spk), case(stem),
                                upper, sphere)
    return root


@pytest.mark.parametrize("upper,sphere", [(True, False), (False, True)])
def test_prepare_splits_folding_and_relative_paths(tmp_path, upper, sphere):
    data = make_tree(tmp_path / "timit", upper=upper, sphere=sphere)
    paths = tp.prepare_timit(data, tmp_path / "save", check_counts=False)
    manifests = {k: json.loads(Path(p).read_text()) for k, p in paths.items()}
    assert sorted(manifests["train"]) == ["FCJF0_SI1", "FCJF0_SX2", "MABC0_SI1", "MABC0_SX2"]
    assert sorted(manifests["dev"]) == ["FADG0_SI1", "FADG0_SX2"]
    assert sorted(manifests["test"]) == ["MDAB0_SI1", "MDAB0_SX2"]
    entry = manifests["dev"]["FADG0_SI1"]
    assert entry["phn"] == "sil sh ih hh sil"  # h#->sil, ix->ih, q dropped, hv->hh, sil run merged
    assert entry["wrd"] == "she had"
    assert entry["duration"] == pytest.approx(0.3)
    assert entry["wav"].startswith("{data_root}/") and str(tmp_path) not in entry["wav"]
    assert tp.validate_manifest(paths["dev"], data) == 2


def test_prepare_skips_when_up_to_date(tmp_path, caplog):
    data = make_tree(tmp_path / "timit")
    paths = tp.prepare_timit(data, tmp_path / "save", check_counts=False)
    stamp = paths["train"].stat().st_mtime_ns
    caplog.set_level("INFO")
    tp.prepare_timit(data, tmp_path / "save", check_counts=False)
    assert paths["train"].stat().st_mtime_ns == stamp
    assert "up to date" in caplog.text


def test_timit_root_one_level_down(tmp_path):
    make_tree(tmp_path / "LDC" / "TIMIT")
    assert tp.find_timit_root(tmp_path / "LDC").name == "TIMIT"


def test_folding_table_is_the_standard_one():
    assert len(tp.TIMIT39_PHONES) == len(set(tp.TIMIT39_PHONES)) == 39
    assert len(tp.FOLD_61_TO_39) == 61
    assert set(tp.FOLD_61_TO_39.values()) - {""} == set(tp.TIMIT39_PHONES)
    assert len(tp.DEV_SPEAKERS) == 50 and len(tp.CORE_TEST_SPEAKERS) == 24
    assert not tp.DEV_SPEAKERS & tp.CORE_TEST_SPEAKERS


@pytest.mark.parametrize("kind,message", [
    ("missing", "TIMIT data folder not found: "), ("empty", "TIMIT data folder is empty: "),
    ("no_layout", r"no TIMIT layout in .*: expected TRAIN/ and TEST/ folders"),
])
def test_bad_data_folder_is_a_clear_error(tmp_path, kind, message):
    folder = tmp_path / "timit"
    if kind != "missing":
        folder.mkdir()
    if kind == "no_layout":
        (folder / "readme.txt").write_text("not timit")
    with pytest.raises(RecipeError, match=message):
        tp.prepare_timit(folder, tmp_path / "save")


def test_unknown_phone_and_corrupt_audio_are_named(tmp_path):
    data = make_tree(tmp_path / "timit")
    phn = data / "TRAIN" / "DR1" / "FCJF0" / "SI1.PHN"
    phn.write_text("0 800 h#\n800 1600 xx\n")
    with pytest.raises(RecipeError, match=r"unknown phone label 'xx'.*SI1\.PHN"):
        tp.prepare_timit(data, tmp_path / "save", check_counts=False)
    phn.write_text("0 800 h#\n")
    (data / "TEST" / "DR4" / "FADG0" / "SX2.WAV").write_bytes(b"garbage" * 10)
    with pytest.raises(RecipeError, match=r"corrupt.*SX2\.WAV"):
        tp.prepare_timit(data, tmp_path / "save", check_counts=False)


def test_phone_segments_fold_and_time_the_phn_file(tmp_path):
    data = make_tree(tmp_path / "timit")
    wav = data / "TRAIN" / "DR1" / "FCJF0" / "SI1.WAV"
    assert tp.phone_segments(wav, 16000) == [
        (0.0, 0.05, "sil"), (0.05, 0.1, "sh"), (0.1, 0.15, "ih"), (0.1625, 0.2, "hh"),
        (0.2, 0.225, "sil"), (0.225, 0.25, "sil"), (0.25, 0.3, "sil"),
    ]  # q is dropped; sil runs stay as written (timing)
    assert tp.phone_segments(tmp_path / "none.wav", 16000) is None


def test_the_recipe_folders_preparer_is_the_packages():
    """recipes/TIMIT/timit_prepare.py stays where SpeechBrain recipes keep their preparer."""
    spec = importlib.util.spec_from_file_location("timit_prepare", RECIPE / "timit_prepare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # not put in sys.modules: nothing leaks into other tests
    assert module.prepare_timit is tp.prepare_timit
    assert module.validate_manifest is tp.validate_manifest
