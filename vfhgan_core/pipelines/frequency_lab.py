"""The frequency-loss lab: train two small networks side by side and watch their spectra.

The experiment behind the app's *Frequency-loss lab* tab and its ``ffl_lab`` API. It isolates
the one thing the focal frequency loss changes, on the visitor's own face:

* the task is this project's task, ×4 super-resolution of a 32×32 face (the HR crop degraded
  exactly as in training, :func:`vfhgan_core.faces.crops.degrade`), on one frame or a few;
* two copies of one tiny network (:class:`~vfhgan_core.models.espcn.ResidualESPCN`, same
  initial weights, same Adam settings, same data every step) are trained for the same number
  of steps: one with the pixel loss alone (MSE), one with the pixel loss plus the focal
  frequency loss (:class:`~vfhgan_core.losses.frequency.FocalFrequencyLoss`, weight β,
  exponent α, log matrix, patch factor);
* every ``snapshot_every`` steps :func:`run_frequency_lab` yields a :class:`LabSnapshot`:
  both reconstructions, their relative spectral error band by band
  (:func:`vfhgan_core.metrics.spectral.band_spectral_error`), PSNR-Y and loss curves, and the focal
  weight matrix the FFL copy is trained with at that step.

Why this set-up: because the orthonormal DFT keeps energy (Parseval), the *unweighted*
frequency loss is exactly the pixel MSE; what the focal loss adds is only its weight matrix,
which puts the most weight on the frequencies the network currently gets most wrong (in
absolute terms). Starting both copies from the same weights makes every difference between
the two columns the work of that matrix. Networks fit low frequencies first (spectral bias):
the band errors fall band by band from the lowest upwards, and the bands above the input's
Nyquist limit (0.125 cycles/pixel at ×4) are learnt last. What the matrix does to that order
on real faces is measured in the README (section *Frequency-loss lab*), not assumed here.
"""
from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from vfhgan_core.errors import LabCancelled, LabSettingsError
from vfhgan_core.faces.crops import DEGRADATIONS, degrade
from vfhgan_core.losses.frequency import FocalFrequencyLoss, frequency_weight_matrix, image_spectrum
from vfhgan_core.metrics import psnr_y, to_uint8_rgb
from vfhgan_core.metrics.spectral import band_edges, band_spectral_error, mean_above
from vfhgan_core.models.espcn import ResidualESPCN

__all__ = [
    "ARMS",
    "FrequencyLabConfig",
    "LabCancelled",
    "LabHistory",
    "LabSnapshot",
    "LabSettingsError",
    "face_frames",
    "run_frequency_lab",
]

#: the two networks of the lab, in display order
ARMS = ("pixel", "pixel + FFL")
#: most frames one lab run trains on, and most steps (keeps a run within about a minute on 2 cores)
MAX_FRAMES = 8
MAX_STEPS = 20000


@dataclass(frozen=True)
class FrequencyLabConfig:
    """Settings of one lab run (defaults: the focal frequency loss paper's α = 1, weight 1).

    Attributes:
        steps: training steps of each network.
        snapshot_every: a :class:`LabSnapshot` every this many steps (and after the last).
        learning_rate: Adam's learning rate (both networks).
        channels: hidden channels of :class:`ResidualESPCN`.
        alpha: exponent α of the focal weight ``|F̂ − F|^α``.
        loss_weight: β, the factor of the focal frequency loss added to the pixel loss.
        log_matrix: use ``log(w + 1)`` before normalising the weight.
        patch_factor: the focal loss's spectra are taken per patch of a ``p × p`` grid.
        n_bands: equal-width radial bands over ``[0, 0.5]`` cycles/pixel for the error table.
        scale: super-resolution factor (the HR frames' size must be divisible by it).
        degradation: HR → LR method (:data:`vfhgan_core.faces.crops.DEGRADATIONS`).
        seed: seed of the shared initial weights.
        threads: torch threads while the lab computes (restored before every snapshot is handed
            out, so the caller's setting is untouched). The lab's tensors are tiny: one thread is as
            fast as two on this project's 2-core machine when the lab runs in a worker thread (a
            web server's), where two OpenMP threads made it twice as slow; it also leaves the other
            core to a second visitor.
    """

    steps: int = 1000
    snapshot_every: int = 50
    learning_rate: float = 1e-3
    channels: int = 32
    alpha: float = 1.0
    loss_weight: float = 1.0
    log_matrix: bool = False
    patch_factor: int = 1
    n_bands: int = 8
    scale: int = 4
    degradation: str = "bicubic_antialias"
    seed: int = 0
    threads: int = 1

    def __post_init__(self) -> None:
        def need(ok: bool, message: str) -> None:
            if not ok:
                raise LabSettingsError(message)

        need(isinstance(self.steps, int) and 1 <= self.steps <= MAX_STEPS,
             f"steps must be a whole number from 1 to {MAX_STEPS}, got {self.steps!r}")
        need(isinstance(self.snapshot_every, int) and self.snapshot_every >= 1,
             f"snapshot_every must be a whole number of at least 1, got {self.snapshot_every!r}")
        need(0.0 < self.learning_rate <= 0.1, f"learning_rate must lie in (0, 0.1], got {self.learning_rate!r}")
        need(isinstance(self.channels, int) and 1 <= self.channels <= 256,
             f"channels must be a whole number from 1 to 256, got {self.channels!r}")
        need(0.0 <= self.alpha <= 4.0, f"alpha (the focal exponent) must lie in [0, 4], got {self.alpha!r}")
        need(0.0 <= self.loss_weight <= 1000.0,
             f"the frequency loss weight must lie in [0, 1000], got {self.loss_weight!r}")
        need(self.patch_factor in (1, 2, 4, 8),
             f"patch_factor must be 1, 2, 4 or 8 (it must divide the 128-pixel frame), got {self.patch_factor!r}")
        need(isinstance(self.n_bands, int) and 1 <= self.n_bands <= 64,
             f"n_bands must be a whole number from 1 to 64, got {self.n_bands!r}")
        need(isinstance(self.scale, int) and self.scale >= 1, f"scale must be a positive integer, got {self.scale!r}")
        need(isinstance(self.threads, int) and 1 <= self.threads <= 256,
             f"threads must be a whole number from 1 to 256, got {self.threads!r}")
        need(self.degradation in DEGRADATIONS,
             f"degradation must be one of {', '.join(DEGRADATIONS)}, got {self.degradation!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def high_band_start(self) -> float:
        """The input's Nyquist limit in cycles per HR pixel (0.125 at ×4): above it lies what bicubic cannot know."""
        return 0.5 / self.scale


@dataclass
class LabHistory:
    """Per-snapshot curves of both networks (lists grow with every snapshot)."""

    steps: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    psnr_y: dict[str, list[float]] = field(default_factory=lambda: {a: [] for a in ARMS})
    pixel_loss: dict[str, list[float]] = field(default_factory=lambda: {a: [] for a in ARMS})
    ffl_loss: list[float] = field(default_factory=list)
    band_error_db: dict[str, list[list[float]]] = field(default_factory=lambda: {a: [] for a in ARMS})
    #: mean error of the bands above the input's Nyquist limit (dB), per arm
    high_band_error_db: dict[str, list[float]] = field(default_factory=lambda: {a: [] for a in ARMS})


@dataclass(frozen=True)
class LabSnapshot:
    """The lab at one step: images of the first frame, spectra and the curves so far.

    Attributes:
        step: steps done by each network (0 = the shared initial weights).
        total_steps: steps the run will make.
        seconds: wall time since the run started.
        target: uint8 ``(H, W, 3)``: the first HR frame.
        lr: uint8 ``(h, w, 3)``: its LR input.
        bicubic: uint8 ``(H, W, 3)``: bicubic upsampling of the input.
        outputs: uint8 ``(H, W, 3)`` reconstruction of the first frame per arm (:data:`ARMS`).
        band_error_db: relative spectral error per band, float64 ``(n_bands,)`` per arm, over all frames.
        bicubic_band_error_db: the same for bicubic upsampling.
        psnr_y: PSNR-Y (dB) of each arm over all frames; ``bicubic_psnr_y`` likewise.
        focal_weights: float64 ``(H/p, W/p)`` in [0, 1], fftshift-ed (DC in the centre): the focal
            weight matrix the FFL network is trained with at this step (first frame, first patch
            for ``patch_factor`` > 1, mean over the RGB channels: each channel's weight is 1 at its
            own worst frequency, so the mean peaks at 1 only where the channels agree).
        band_edges: float64 ``(n_bands + 1,)`` in cycles/pixel.
        history: the curves up to this snapshot (shared, growing object: copy to keep).
        config: the run's settings.
        frames: how many frames the networks train on.
        done: True for the last snapshot.
    """

    step: int
    total_steps: int
    seconds: float
    target: np.ndarray
    lr: np.ndarray
    bicubic: np.ndarray
    outputs: dict[str, np.ndarray]
    band_error_db: dict[str, np.ndarray]
    bicubic_band_error_db: np.ndarray
    psnr_y: dict[str, float]
    bicubic_psnr_y: float
    focal_weights: np.ndarray
    band_edges: np.ndarray
    high_band_start: float
    history: LabHistory
    config: FrequencyLabConfig
    frames: int = 1
    done: bool = False

    def high_band_error_db(self, arm: str) -> float:
        """Error (dB) of ``arm`` over the bands that start at or above the input's Nyquist limit."""
        return mean_above(self.band_error_db[arm], self.band_edges, self.high_band_start)

    @property
    def bicubic_high_band_error_db(self) -> float:
        """The same for bicubic upsampling."""
        return mean_above(self.bicubic_band_error_db, self.band_edges, self.high_band_start)

    def summary(self) -> dict[str, Any]:
        """Plain-JSON figures of this snapshot (what the ``ffl_lab`` API returns)."""
        def num(v: float) -> float | None:      # JSON has no NaN: a band without data is null
            return None if not np.isfinite(v) else round(float(v), 3)

        def rnd(values) -> list[float | None]:
            return [num(v) for v in values]

        edges = self.band_edges
        return {
            "settings": self.config.to_dict(),
            "steps_done": self.step,
            "finished": self.done,
            "seconds": round(self.seconds, 2),
            "frames": self.frames,
            "bands": [{"low": round(float(lo), 4), "high": round(float(hi), 4)} for lo, hi in zip(edges[:-1], edges[1:])],
            "high_band_start": self.high_band_start,
            "band_error_db": {**{a: rnd(self.band_error_db[a]) for a in ARMS},
                              "bicubic": rnd(self.bicubic_band_error_db)},
            "high_band_error_db": {**{a: num(self.high_band_error_db(a)) for a in ARMS},
                                   "bicubic": num(self.bicubic_high_band_error_db)},
            "psnr_y": {**{a: num(self.psnr_y[a]) for a in ARMS}, "bicubic": num(self.bicubic_psnr_y)},
            "curves": {
                "step": list(self.history.steps),
                "psnr_y": {a: rnd(v) for a, v in self.history.psnr_y.items()},
                "pixel_loss": {a: [float(f"{x:.6g}") for x in v] for a, v in self.history.pixel_loss.items()},
                "ffl_loss": [float(f"{x:.6g}") for x in self.history.ffl_loss],
                "band_error_db": {a: [rnd(row) for row in v] for a, v in self.history.band_error_db.items()},
                "high_band_error_db": {a: rnd(v) for a, v in self.history.high_band_error_db.items()},
            },
        }


def _as_frames(frames: np.ndarray, scale: int) -> torch.Tensor:
    """uint8 ``(H, W, 3)`` or ``(N, H, W, 3)`` → float ``(N, 3, H, W)`` in [0, 1], checked."""
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8:
        raise LabSettingsError("the lab trains on uint8 RGB face crops (H, W, 3) or (N, H, W, 3)")
    if frames.ndim == 3:
        frames = frames[None]
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise LabSettingsError(f"expected RGB face crops (N, H, W, 3), got shape {frames.shape}")
    n, h, w = frames.shape[:3]
    if not 1 <= n <= MAX_FRAMES:
        raise LabSettingsError(f"the lab trains on 1 to {MAX_FRAMES} frames, got {n}")
    if h % scale or w % scale or h // scale < 4 or w // scale < 4:
        raise LabSettingsError(f"frames of {w}x{h} cannot be shrunk x{scale}: use square crops such as 128x128")
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 255.0


def face_frames(video: str, at: float, frames: int, detector, config=None) -> np.ndarray:
    """The HR face crops of ``frames`` consecutive frames from ``at`` seconds of ``video``.

    Args:
        video: a video file.
        at: time of the first frame, in seconds (0 ≤ ``at`` < the clip's duration).
        frames: how many frames (1 to :data:`MAX_FRAMES`).
        detector: a face detector (:func:`vfhgan_core.faces.detection.load_face_detector`).
        config: the clip pipeline's settings (:class:`vfhgan_core.faces.clip.PipelineConfig`).

    Returns:
        uint8 ``(frames, S, S, 3)`` RGB crops (128×128 by default), as the training data is cut.

    Raises:
        LabSettingsError for a time outside the clip or too few frames after it; the pipeline's
        errors (not a video, no face, face too small) as they are.
    """
    from vfhgan_core.faces.clip import PipelineConfig, extract_face_clip
    from vfhgan_core.io import probe_video

    n = int(frames)
    if not 1 <= n <= MAX_FRAMES:
        raise LabSettingsError(f"the lab trains on 1 to {MAX_FRAMES} frames, got {frames}")
    info = probe_video(video)
    at = float(at)
    if not 0.0 <= at < info.duration:
        raise LabSettingsError(f"the lab's frame time {at:g} s lies outside the clip (0 to {info.duration:.2f} s)")
    # a little more than n frames: the last one may start just past a rounded duration
    duration = min(info.duration - at, (n + 0.5) / max(info.fps, 1.0))
    clip = extract_face_clip(video, detector, config or PipelineConfig(), start=at, duration=duration,
                             require_audio=False)
    if clip.num_frames < n:
        raise LabSettingsError(f"only {clip.num_frames} frame(s) lie after {at:g} s; choose an earlier time "
                               "or fewer frames")
    return clip.hr[:n]


@contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def run_frequency_lab(
    frames: np.ndarray,
    config: FrequencyLabConfig = FrequencyLabConfig(),
    should_stop: Callable[[], bool] | None = None,
) -> Iterator[LabSnapshot]:
    """Train the pixel-only and the pixel + FFL networks on ``frames``; yield snapshots as they go.

    Args:
        frames: uint8 HR face crops ``(H, W, 3)`` or ``(N, H, W, 3)``, ``N`` ≤ :data:`MAX_FRAMES`
            (e.g. 128×128 crops from :func:`vfhgan_core.faces.clip.extract_face_clip`).
        config: the run's settings.
        should_stop: checked before every step; when it returns True the run raises
            :class:`LabCancelled` (a consumer may also simply stop iterating).

    Yields:
        a :class:`LabSnapshot` at step 0, every ``config.snapshot_every`` steps and after the
        last step (``done=True``). Runs in the calling thread with torch's current thread count;
        the result depends only on ``frames`` and ``config`` (same seed, same numbers).
    """
    cfg = config
    gt = _as_frames(frames, cfg.scale)
    if gt.shape[-1] % cfg.patch_factor or gt.shape[-2] % cfg.patch_factor:
        raise LabSettingsError(f"patch_factor {cfg.patch_factor} must divide the frame size {gt.shape[-1]}")
    stop = should_stop or (lambda: False)
    t0 = time.perf_counter()
    history = LabHistory()
    ffl = FocalFrequencyLoss(loss_weight=cfg.loss_weight, alpha=cfg.alpha, patch_factor=cfg.patch_factor,
                             log_matrix=cfg.log_matrix)

    with _torch_threads(cfg.threads):
        lr = degrade(gt, cfg.scale, cfg.degradation)
        bicubic = F.interpolate(lr, scale_factor=cfg.scale, mode="bicubic", align_corners=False).clamp(0, 1)
        gt8 = to_uint8_rgb(gt)
        edges = band_edges(cfg.n_bands)
        bicubic_bands = band_spectral_error(bicubic, gt, cfg.n_bands)
        bicubic_psnr = psnr_y(to_uint8_rgb(bicubic), gt8)
        lr8, bicubic8 = to_uint8_rgb(lr.clamp(0, 1))[0], to_uint8_rgb(bicubic)[0]
        # the initial weights come from a private generator: two labs started at once in one process (two
        # visitors of the app) would otherwise interleave their draws from torch's global generator and start
        # from different weights; fork_rng leaves the caller's random state as it was
        with torch.random.fork_rng(devices=[]):
            base = ResidualESPCN(cfg.scale, cfg.channels, generator=torch.Generator().manual_seed(cfg.seed))
        nets = {arm: copy.deepcopy(base) for arm in ARMS}   # the same initial weights for both
        opts = {arm: torch.optim.Adam(net.parameters(), lr=cfg.learning_rate) for arm, net in nets.items()}

    def snapshot(step: int, done: bool) -> LabSnapshot:
        """Score both networks after ``step`` steps (their current weights)."""
        bands, psnrs, images = {}, {}, {}
        with torch.no_grad():
            outs = {arm: net(lr) for arm, net in nets.items()}
            for arm in ARMS:
                out = outs[arm].clamp(0, 1)
                bands[arm] = band_spectral_error(out, gt, cfg.n_bands)
                out8 = to_uint8_rgb(out)
                psnrs[arm] = psnr_y(out8, gt8)
                images[arm] = out8[0]
                history.psnr_y[arm].append(psnrs[arm])
                history.band_error_db[arm].append([float(v) for v in bands[arm]])
                history.high_band_error_db[arm].append(mean_above(bands[arm], edges, cfg.high_band_start))
                history.pixel_loss[arm].append(float(F.mse_loss(outs[arm], gt)))
            ffl_out = outs[ARMS[1]]
            history.ffl_loss.append(float(ffl(ffl_out, gt)))
            spectra = image_spectrum(ffl_out[:1], cfg.patch_factor), image_spectrum(gt[:1], cfg.patch_factor)
            w = frequency_weight_matrix(*spectra, alpha=cfg.alpha, log_matrix=cfg.log_matrix)[0, 0]  # (C, h, w)
        history.steps.append(step)
        seconds = time.perf_counter() - t0
        history.seconds.append(seconds)
        return LabSnapshot(step=step, total_steps=cfg.steps, seconds=seconds, target=gt8[0], lr=lr8,
                           bicubic=bicubic8, outputs=images, band_error_db=bands, bicubic_band_error_db=bicubic_bands,
                           psnr_y=psnrs, bicubic_psnr_y=bicubic_psnr,
                           focal_weights=np.fft.fftshift(w.mean(dim=0).double().numpy()), band_edges=edges,
                           high_band_start=cfg.high_band_start, history=history, config=cfg, frames=len(gt),
                           done=done)

    with _torch_threads(cfg.threads):
        snap = snapshot(0, done=False)
    yield snap
    step = 0
    while step < cfg.steps:
        with _torch_threads(cfg.threads):   # set again after every yield: the caller may resume in another thread
            stop_at = min(cfg.steps, (step // cfg.snapshot_every + 1) * cfg.snapshot_every)
            while step < stop_at:
                if stop():
                    raise LabCancelled(f"the lab run was stopped at step {step} of {cfg.steps}")
                for arm, net in nets.items():
                    out = net(lr)
                    loss = F.mse_loss(out, gt)
                    if arm == ARMS[1] and cfg.loss_weight > 0:
                        loss = loss + ffl(out, gt)
                    opts[arm].zero_grad(set_to_none=True)
                    loss.backward()
                    opts[arm].step()
                step += 1
            snap = snapshot(step, done=step == cfg.steps)
        yield snap
