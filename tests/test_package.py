"""Package-level behaviour: public names and coexistence with SciPy."""

import numpy as np

import sparse


def test_public_api():
    for name in ("ASREncoder", "KWSEncoder", "MultilayeredSpiking", "ReadoutLayer", "SNN", "ANN"):
        assert hasattr(sparse, name), name


def test_scipy_signal_works_after_importing_sparse():
    # scipy looks up sys.modules["sparse"].SparseArray (pydata sparse shares our import name)
    from scipy.signal import resample_poly

    assert resample_poly(np.ones(100), 2, 1).shape == (200,)
