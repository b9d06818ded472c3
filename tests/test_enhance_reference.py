"""``enhance`` gives what it gave before: one GRID clip restored and compared with a stored reference.

The reference (``tests/reference/enhance_lbax4n.npz``) holds the LR input, the ground-truth crop
and two bundled variants' output for four frames. It was written by the code before the
layout moves of issue #16 (``tests/reference/make_enhance_reference.py`` says how to renew it).
Face detection, cropping, degradation, the speech windows and both generators all feed it.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

REFERENCE = Path(__file__).resolve().parent / "reference"


def _maker():
    spec = importlib.util.spec_from_file_location("make_enhance_reference", REFERENCE / "make_enhance_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_enhance_output_matches_the_reference(detector_model: Path) -> None:
    maker = _maker()
    assert maker.DETECTOR == detector_model
    stored = np.load(REFERENCE / "enhance_lbax4n.npz")
    now = maker.restore_reference_frames()
    assert sorted(now) == sorted(stored.files) == sorted(["lr", "gt", *maker.VARIANTS])
    for key in stored.files:
        a, b = now[key].astype(int), stored[key].astype(int)
        assert a.shape == b.shape, key
        # the same arithmetic up to float rounding across CPUs: at most one level here and there
        assert np.abs(a - b).max() <= 2, (key, int(np.abs(a - b).max()))
        assert np.abs(a - b).mean() < 0.05, (key, float(np.abs(a - b).mean()))
    # a meaningful reference: the two variants' outputs are not the same picture
    assert np.abs(stored["audio-ffl-lip"].astype(int) - stored["noaudio-ffl-lip"].astype(int)).max() > 2
