"""Settings of the app: command-line flags, environment variables, defaults.

Each setting is taken from its flag, else its environment variable, else the
default. On a Hugging Face Space the platform sets ``GRADIO_SERVER_NAME=0.0.0.0``
and ``GRADIO_SERVER_PORT``; they are honoured, so the Space needs no flags.
"""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, replace


class SettingsError(ValueError):
    """The user's settings cannot be run (segment outside the clip, too long, no video); the message says why."""


#: environment variables read by :func:`parse_settings` (flag → variable)
ENV = {
    "weights": "VFHGAN_WEIGHTS",
    "detector_model": "VFHGAN_DETECTOR_MODEL",
    "host": "VFHGAN_HOST",
    "port": "VFHGAN_PORT",
    "max_seconds": "VFHGAN_MAX_SECONDS",
    "max_upload_mb": "VFHGAN_MAX_UPLOAD_MB",
    "concurrency": "VFHGAN_CONCURRENCY",
}


@dataclass(frozen=True)
class AppSettings:
    """How the app runs.

    Attributes:
        weights: where the generators come from: ``None`` for the weights bundled in
            ``assets/weights/``, a local folder of variant folders, or a Hub repo id
            (see :mod:`vfhgan_core.weights.hub`).
        detector_model: SCRFD ``.onnx`` file (``None``: the library's search order).
        det_size: longer side of the face detector's input, in pixels.
        host: interface to bind; ``127.0.0.1`` keeps the app private to this machine.
        port: TCP port (``None``: Gradio picks 7860 or the next free one).
        max_seconds: longest segment one run may restore, in seconds.
        default_seconds: segment length proposed when a clip is opened, in seconds
            (clipped to ``max_seconds`` and to the clip).
        max_upload_mb: largest accepted upload, in megabytes.
        concurrency: restorations that run at the same time; more requests wait in the queue.
        queue_size: requests allowed to wait; beyond it new users are told to retry later.
        batch_size: generator batch size (frames).
        cache_minutes: uploaded and produced files older than this are deleted (checked as often).
    """

    weights: str | None = None
    detector_model: str | None = None
    det_size: int = 640
    host: str = "127.0.0.1"
    port: int | None = None
    max_seconds: float = 10.0
    default_seconds: float = 5.0
    max_upload_mb: int = 100
    concurrency: int = 2
    queue_size: int = 20
    batch_size: int = 32
    cache_minutes: int = 60

    def __post_init__(self) -> None:
        if self.max_seconds <= 0 or self.default_seconds <= 0:
            raise ValueError("max_seconds and default_seconds must be positive")
        if self.concurrency < 1 or self.queue_size < 1 or self.max_upload_mb < 1:
            raise ValueError("concurrency, queue_size and max_upload_mb must be at least 1")

    @property
    def proposed_seconds(self) -> float:
        """Segment length proposed for a new clip (before clipping to its duration)."""
        return min(self.default_seconds, self.max_seconds)


def build_parser() -> argparse.ArgumentParser:
    """The ``python app.py`` command line."""
    p = argparse.ArgumentParser(
        prog="app.py",
        description="VFH-GAN demo: restore the face in a talking-face video and see what audio and the "
        "frequency loss change.",
    )
    p.add_argument("--weights", metavar="DIR_OR_REPO",
                   help=f"generator weights: a folder of variant folders or a Hub repo id "
                        f"(env {ENV['weights']}; default: assets/weights)")
    p.add_argument("--detector-model", metavar="PATH",
                   help=f"SCRFD face detector .onnx (env {ENV['detector_model']})")
    p.add_argument("--det-size", type=int, default=AppSettings.det_size,
                   help="face detector input size in pixels (default %(default)s)")
    p.add_argument("--host", help=f"interface to bind (env {ENV['host']} or GRADIO_SERVER_NAME; "
                                  "default 127.0.0.1; 0.0.0.0 to serve the network)")
    p.add_argument("--port", type=int, help=f"port (env {ENV['port']} or GRADIO_SERVER_PORT; default 7860)")
    p.add_argument("--max-seconds", type=float,
                   help=f"longest segment one run restores (env {ENV['max_seconds']}; default {AppSettings.max_seconds:g})")
    p.add_argument("--max-upload-mb", type=int,
                   help=f"largest upload in MB (env {ENV['max_upload_mb']}; default {AppSettings.max_upload_mb})")
    p.add_argument("--concurrency", type=int,
                   help=f"restorations run at once (env {ENV['concurrency']}; default {AppSettings.concurrency})")
    return p


def _first(*values):
    for v in values:
        if v not in (None, ""):
            return v
    return None


def parse_settings(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> AppSettings:
    """Settings from the command line (``argv``) and the environment (``environ``, default ``os.environ``)."""
    env = os.environ if environ is None else environ
    args = build_parser().parse_args(argv)
    defaults = AppSettings()
    port = _first(args.port, env.get(ENV["port"]), env.get("GRADIO_SERVER_PORT"))
    return replace(
        defaults,
        weights=_first(args.weights, env.get(ENV["weights"])),
        detector_model=_first(args.detector_model, env.get(ENV["detector_model"])),
        det_size=args.det_size,
        host=_first(args.host, env.get(ENV["host"]), env.get("GRADIO_SERVER_NAME"), defaults.host),
        port=int(port) if port is not None else None,
        max_seconds=float(_first(args.max_seconds, env.get(ENV["max_seconds"]), defaults.max_seconds)),
        max_upload_mb=int(_first(args.max_upload_mb, env.get(ENV["max_upload_mb"]), defaults.max_upload_mb)),
        concurrency=int(_first(args.concurrency, env.get(ENV["concurrency"]), defaults.concurrency)),
    )
