#!/usr/bin/env python
"""Write ``enhance_lbax4n.npz``: what ``enhance`` restores from one GRID clip, kept to catch drift.

``tests/test_enhance_reference.py`` restores the same clip with the same bundled weights and
compares. A refactor must leave the output as it was; new weights (a training round) or a
deliberate change to the pipeline need a new reference:

    python tests/reference/make_enhance_reference.py

The first reference was written by the layout before issue #16's moves (commit 0e1f3af),
so the test compares the code after them with the code before.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("VFHGAN_SHARED", HERE.parents[1].parent / "shared")).resolve()
CLIP = SHARED / "data" / "grid_speakers" / "lbax4n.mpg"
DETECTOR = SHARED / "models" / "scrfd_500m.onnx"
VARIANTS = ("audio-ffl-lip", "noaudio-ffl-lip")
FRAMES = np.array([0, 3, 6, 9])
DURATION = 0.4
OUT = HERE / "enhance_lbax4n.npz"


def restore_reference_frames() -> dict[str, np.ndarray]:
    """The LR input and each variant's restored frames (:data:`FRAMES`) of :data:`CLIP`."""
    from vfhgan_core.faces.clip import PipelineConfig
    from vfhgan_core.faces.detection import DetectorConfig
    from vfhgan_core.pipelines.face_restorer import FaceRestorer
    from vfhgan_core.pipelines.restore import RestoreOptions

    detector = DetectorConfig(model_path=str(DETECTOR))
    restorer = FaceRestorer.load(list(VARIANTS), None, detector)
    result = restorer.restore(CLIP, RestoreOptions(duration=DURATION, pipeline=PipelineConfig(detector=detector)))
    frames = {"lr": result.lr[FRAMES], "gt": result.gt[FRAMES]}
    frames.update({name: result.sr[name][FRAMES] for name in VARIANTS})
    return frames


def main() -> int:
    np.savez_compressed(OUT, **restore_reference_frames())
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
