"""SHD/SSC binning edge cases, HDF5 round trip and validation protocols."""

from __future__ import annotations

import numpy as np
import pytest

from sparse.data import bin_events, make_spike_fixture, spike_datasets, write_spike_h5
from sparse.data.shd import hold_out_speakers


def test_empty_example_gives_zeros():
    x = bin_events(np.zeros(0), np.zeros(0, dtype=int), nb_steps=10, max_time=1.4)
    assert x.shape == (10, 700) and x.sum() == 0


def test_event_exactly_at_max_time_goes_to_last_bin():
    x = bin_events([1.4], [5], nb_steps=100, max_time=1.4)
    assert x[99, 5] == 1 and x.sum() == 1


def test_events_beyond_max_time_are_dropped_not_clipped():
    x = bin_events([1.4000001, 2.0, 10.0, -0.1], [1, 2, 3, 4], nb_steps=100, max_time=1.4)
    assert x.sum() == 0


def test_bin_boundaries_duplicates_and_binary():
    # bin width 0.25: [0, .25) -> 0, [.25, .5) -> 1, ...; 0.25 opens bin 1
    x = bin_events([0.0, 0.2499, 0.25, 0.9999, 0.5, 0.5], [0, 0, 0, 1, 2, 2], nb_steps=4,
                   max_time=1.0, nb_units=3)
    assert x[:, 0].tolist() == [2.0, 1.0, 0.0, 0.0]
    assert x[3, 1] == 1 and x[2, 2] == 2
    assert bin_events([0.5, 0.5], [2, 2], 4, 1.0, 3, binary=True)[2, 2] == 1


def test_bad_units_raise():
    with pytest.raises(ValueError, match=r"unit ids must be in \[0, 700\), got \[700, 700\]"):
        bin_events([0.1], [700])


def test_h5_round_trip_and_speaker_split(tmp_path):
    rng = np.random.default_rng(0)
    times = [rng.uniform(0, 1.4, 30) for _ in range(8)] + [np.zeros(0)]
    units = [rng.integers(0, 700, 30) for _ in range(8)] + [np.zeros(0)]
    labels, speakers = [0, 1, 2, 3, 0, 1, 2, 3, 4], [0, 0, 1, 1, 2, 2, 3, 3, 3]
    write_spike_h5(tmp_path / "shd_train.h5", times, units, labels, speakers)
    write_spike_h5(tmp_path / "shd_test.h5", times[:2], units[:2], labels[:2], speakers[:2])
    ds = spike_datasets(tmp_path, "shd", nb_steps=50, valid_speakers=[3])
    assert (len(ds["train"]), len(ds["valid"]), len(ds["test"])) == (6, 3, 2)
    valid = [ds["valid"][i] for i in range(3)]
    assert valid[-1]["feats"].sum() == 0 and valid[-1]["label"].tolist() == [4]
    first = ds["train"][0]
    assert first["feats"].shape == (50, 700) and first["feats"].sum() == 30
    upstream = spike_datasets(tmp_path, "shd", valid_protocol="test_as_valid")
    assert len(upstream["valid"]) == len(upstream["test"]) == 2
    with pytest.raises(ValueError, match="valid_protocol 'official' is not one of .* for shd"):
        spike_datasets(tmp_path, "shd", valid_protocol="official")


def test_hold_out_speakers_is_disjoint_and_seeded():
    spk = np.repeat(np.arange(10), 5)
    mask, chosen = hold_out_speakers(spk, valid_fraction=0.1, seed=3)
    assert len(chosen) == 1 and mask.sum() == 5
    assert set(spk[mask]).isdisjoint(spk[~mask])
    assert hold_out_speakers(spk, 0.1, seed=3)[1] == chosen


def test_ssc_fixture_official_split(tmp_path):
    make_spike_fixture(tmp_path, "ssc", n_speakers=2)
    ds = spike_datasets(tmp_path, "ssc")
    assert {k: len(v) for k, v in ds.items()} == {"train": 70, "valid": 35, "test": 35}
    assert ds["train"][0]["feats"][-1].sum() >= 1  # the fixture's event at max_time
