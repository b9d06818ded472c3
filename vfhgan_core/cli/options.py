"""Options several commands share: the face detector's (``--detector-model``, ``--det-size``, ``--no-download``)
and the flip self-ensemble (``--self-ensemble``)."""
from __future__ import annotations

import argparse
from dataclasses import replace


def detector_config(args: argparse.Namespace):
    """The :class:`~vfhgan_core.faces.detection.DetectorConfig` the parsed detector options ask for."""
    from vfhgan_core.faces.detection import DetectorConfig

    config = DetectorConfig()
    if getattr(args, "detector_model", None):
        config = replace(config, model_path=args.detector_model)
    if getattr(args, "det_size", None):
        config = replace(config, det_size=args.det_size)
    if getattr(args, "no_download", False):
        config = replace(config, allow_download=False)
    return config


def add_detector_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--detector-model", metavar="PATH",
                   help="SCRFD .onnx face detector (default: $VFHGAN_DETECTOR_MODEL, then insightface's buffalo_s)")
    p.add_argument("--det-size", type=int, metavar="PX", help="detector input size (default 640)")
    p.add_argument("--no-download", action="store_true", help="never try to download the detector model")


def add_self_ensemble_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--self-ensemble", action="store_true",
                   help="also restore every frame mirrored left to right and average the two (the flip "
                        "self-ensemble): about 0.3 dB PSNR-Y more on unseen speakers, at twice the generator's time")
