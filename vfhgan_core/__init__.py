"""VFH-GAN: audio-visual video face hallucination.

A library with no UI, in layers; a module imports only its own layer and those below it
(README.md, "Layout"; ``tests/test_package_imports.py`` checks it). Bottom first:

- file resolution and Hub reachability (:mod:`vfhgan_core.utils`), typed configs
  (:mod:`vfhgan_core.config`), error classes (:mod:`vfhgan_core.errors`);
- media I/O (:mod:`vfhgan_core.io`) and speech features (:mod:`vfhgan_core.audio`);
- faces: detection, tracking, crops, mouths, whole face clips (:mod:`vfhgan_core.faces`); prepared
  training data and degradations (:mod:`vfhgan_core.data`);
- networks (:mod:`vfhgan_core.models`) and losses (:mod:`vfhgan_core.losses`);
- metrics and their one vocabulary (:mod:`vfhgan_core.metrics`);
- trained weights: variants, resolver, folder format, run records, cards (:mod:`vfhgan_core.weights`),
  and the run config stored with them (:mod:`vfhgan_core.experiment`);
- trained networks on whole videos, and the frequency-loss lab (:mod:`vfhgan_core.pipelines`);
- what the training scripts share (:mod:`vfhgan_core.training`);
- evaluation runs over datasets and the paper's tables (:mod:`vfhgan_core.evaluation`);
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
