"""The VFH-GAN Gradio app: ``python app.py`` (or ``python -m app``) starts it.

Layout in :mod:`app.ui`, event handlers in :mod:`app.callbacks`, plots and
inspector images in :mod:`app.figures`, model/session plumbing in
:mod:`app.engine`, settings in :mod:`app.settings`. All restoration, metrics
and spectra come from :mod:`vfhgan_core`.
"""
from __future__ import annotations

import os

# no usage analytics or version look-ups at start-up (must be set before gradio is imported)
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# idle OpenMP threads sleep instead of spinning (before torch is imported): on a busy
# 2-core machine, or with two users at once, spinning threads slowed the generator 2-7x
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .main import main  # noqa: E402
from .settings import AppSettings, parse_settings  # noqa: E402

__all__ = ["AppSettings", "main", "parse_settings"]
