"""Generators and face detectors for the app, loaded once and shared by all sessions.

:class:`ModelStore` loads each generator variant on first use (thread-safe) and
lends face detectors from a small pool, so two users never share one detector
at the same moment. Importing this module does not import torch: the page
starts first, and the models load in the background.
"""
from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vfhgan_core.errors import WeightsNotFoundError
from vfhgan_core.faces.detection import DetectorConfig, FaceDetector, load_face_detector
from vfhgan_core.weights.hub import BUNDLED_WEIGHTS, list_variants, load_generator, load_run_record, parse_variant

from .variants import describe_variant

log = logging.getLogger(__name__)


class ModelStore:
    """Generators (one per variant, loaded on first use) and a pool of face detectors.

    Args:
        weights: weights source (``None``: the bundled ``assets/weights``; a folder; a Hub repo id).
        detector: how detectors are loaded (:func:`vfhgan_core.faces.detection.load_face_detector`).
    """

    def __init__(self, weights: str | None = None, detector: DetectorConfig = DetectorConfig()) -> None:
        self.weights = weights
        self.detector_config = detector
        self._generators: dict[str, object] = {}
        self._curves: dict[str, object] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self._detectors: queue.SimpleQueue[FaceDetector] = queue.SimpleQueue()
        self._detector_count = 0

    @property
    def is_local(self) -> bool:
        """True when the weights come from a folder (their variants can be listed)."""
        return self.weights is None or Path(self.weights).is_dir()

    @property
    def source_text(self) -> str:
        """Where the weights come from, for messages."""
        if self.weights is None:
            return f"the bundled weights ({BUNDLED_WEIGHTS})"
        return f"{'folder' if Path(self.weights).is_dir() else 'Hub repo'} {self.weights}"

    def available(self) -> list[str]:
        """Variants with weights in a local source; ``[]`` for a Hub repo (unknown until loaded)."""
        if not self.is_local:
            return sorted(self._generators)
        return list_variants(self.weights)

    def training_summary(self, variant: str) -> str | None:
        """How much training ``variant``'s weights had (their ``training.json``, read without the network),
        in plain words; ``None`` when they carry no record or it cannot be read."""
        try:
            record = load_run_record(variant, self.weights, local_files_only=True)
        except (WeightsNotFoundError, ValueError, OSError) as exc:
            log.warning("no training record for %s: %s", variant, exc)
            return None
        return record.summary() if record is not None else None

    def generator(self, variant: str):
        """The generator of ``variant`` (loaded once, then shared read-only by all sessions).

        Raises:
            WeightsNotFoundError: the source has no weights for this variant.
        """
        parse_variant(variant)
        with self._lock:
            if variant in self._generators:
                return self._generators[variant]
            lock = self._locks.setdefault(variant, threading.Lock())
        with lock:  # one load per variant even when two sessions ask at once
            if variant not in self._generators:
                try:
                    gen = load_generator(variant, self.weights)
                except WeightsNotFoundError as exc:
                    if self.is_local:
                        known = self.available()
                        detail = (f"Variants with weights: {', '.join(known)}." if known
                                  else "No variant has weights there yet.")
                    else:
                        detail = str(exc)
                    raise WeightsNotFoundError(
                        f"No trained weights for '{variant}' ({describe_variant(variant)}) in {self.source_text}. "
                        f"{detail} Pick another combination of the switches."
                    ) from exc
                self._generators[variant] = gen.eval()
            return self._generators[variant]

    def spectral_curves(self, variant: str):
        """The variant's training curves (``spectral_curves.json`` beside its weights), or ``None`` without them."""
        from vfhgan_core.evaluation.spectral_curves import load_spectral_curves

        with self._lock:
            if variant in self._curves:
                return self._curves[variant]
        curves = load_spectral_curves(variant, self.weights)
        with self._lock:
            self._curves[variant] = curves
        return curves

    @contextmanager
    def detector(self) -> Iterator[FaceDetector]:
        """Borrow a face detector for the duration of a ``with`` block (created when none is free)."""
        try:
            det = self._detectors.get_nowait()
        except queue.Empty:
            det = load_face_detector(self.detector_config)
            with self._lock:
                self._detector_count += 1
            log.info("face detector %d loaded: %r", self._detector_count, det)
        try:
            yield det
        finally:
            self._detectors.put(det)

    def warm_up(self, variants: list[str] | None = None) -> None:
        """Load a detector and the given (default: the locally available) variants ahead of the first run.

        Each generator also runs once on a dummy batch: the first forward pass of a CPU
        model sets up its kernels and takes several times longer than the next ones.
        """
        import torch

        with self.detector():
            pass
        for v in variants if variants is not None else self.available()[:2]:
            try:
                gen = self.generator(v)
            except WeightsNotFoundError:
                continue
            c = gen.config
            with torch.inference_mode():
                gen(torch.zeros(8, c.num_frames, 3, 32, 32), torch.zeros(8, 1, c.n_mels, c.mel_frames))
