"""VFH-GAN: audio-visual video face hallucination.

A library with no UI. The folders say what lives where:

- media I/O (:mod:`vfhgan_core.media`), speech features (:mod:`vfhgan_core.audio`),
- faces: detection, tracking, crops and paste-back (:mod:`vfhgan_core.faces`),
- prepared training data (:mod:`vfhgan_core.data`),
- networks (:mod:`vfhgan_core.models`) and losses (:mod:`vfhgan_core.losses`),
- the command line (:mod:`vfhgan_core.cli`).
"""

__version__ = "0.1.0"
