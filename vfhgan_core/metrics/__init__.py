"""Quality metrics, and the one vocabulary that names them in every report.

A new metric goes here: its name, label, format and direction in :mod:`.vocabulary`, its function in the
module of its kind.

- :mod:`.vocabulary`: :data:`METRICS`, the table of every reported metric (key, label, format, direction);
- :mod:`.image`: frame by frame: PSNR-Y, SSIM-Y, ERQA, mouth PSNR-Y (and the frame conventions they share);
- :mod:`.temporal`: over a clip: temporal flicker;
- :mod:`.spectral`: Fourier views of frames: spectra, radial power, band errors, the high-frequency scores;
- :mod:`.clip_scores`: every per-frame metric of a restored clip, for bicubic and each generator.

The names of :mod:`.vocabulary`, :mod:`.image` and :mod:`.temporal` are importable from here
(``from vfhgan_core.metrics import psnr_y``).
"""
from .image import ERQA_VERSIONS, ImageLike, erqa, mouth_psnr, psnr_y, rgb_to_y, ssim_y, to_uint8_rgb
from .temporal import temporal_flicker
from .vocabulary import ERQA_VERSION, METRICS, Metric, canonical_metrics, metric

__all__ = [
    "METRICS",
    "Metric",
    "canonical_metrics",
    "metric",
    "ERQA_VERSION",
    "ImageLike",
    "ERQA_VERSIONS",
    "to_uint8_rgb",
    "rgb_to_y",
    "psnr_y",
    "ssim_y",
    "erqa",
    "temporal_flicker",
    "mouth_psnr",
]
