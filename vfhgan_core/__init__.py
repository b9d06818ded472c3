"""VFH-GAN: audio-visual video face hallucination.

A library with no UI. The folders say what lives where (README.md, "Layout"):

- media I/O (:mod:`vfhgan_core.io`), speech features (:mod:`vfhgan_core.audio`),
- faces: detection, tracking, crops, paste-back and whole face clips (:mod:`vfhgan_core.faces`),
- prepared training data and degradations (:mod:`vfhgan_core.data`),
- networks (:mod:`vfhgan_core.models`) and losses (:mod:`vfhgan_core.losses`),
- trained networks on whole videos (:mod:`vfhgan_core.pipelines`),
- quality metrics and their one vocabulary (:mod:`vfhgan_core.metrics`), evaluation runs and
  their tables (:mod:`vfhgan_core.evaluation`),
- the command line (:mod:`vfhgan_core.cli`).

The public API, imported on first use (``import vfhgan_core`` stays light)::

    from vfhgan_core import FaceRestorer
    restorer = FaceRestorer.load("audio-ffl-lip")            # bundled weights, SCRFD face detector
    result, videos = restorer.enhance("talk.mp4", "face.mp4")
"""

__version__ = "0.1.0"

from vfhgan_core.utils.lazy_exports import lazy_exports

#: public name → module that defines it
_PUBLIC = {
    "FaceRestorer": "vfhgan_core.pipelines.face_restorer",
    "RestoreOptions": "vfhgan_core.pipelines.restore",
    "load_generator": "vfhgan_core.weights.hub",
    "VFHGANGenerator": "vfhgan_core.models.generator",
    "GeneratorConfig": "vfhgan_core.models.generator",
    "LipReader": "vfhgan_core.models.lipreading",
    "ExperimentConfig": "vfhgan_core.experiment",
    "DegradationConfig": "vfhgan_core.data.degradations",
}

__all__ = sorted(_PUBLIC)


__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC, globals())
