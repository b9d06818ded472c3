"""The app's event handlers: input checks, the restore action, the inspector, cancel and clean-up.

:class:`AppCallbacks` holds what the handlers share (settings, the model store,
the session registry). Every user-caused failure becomes a ``gr.Error`` with a
readable message; anything unexpected is logged with its traceback and shown
as a short message, and the server keeps serving.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import gradio as gr
import numpy as np

from vfhgan_core.errors import (
    CorruptVideoError,
    DetectorUnavailableError,
    EmptyVideoError,
    FaceTooSmallError,
    LabCancelled,
    LabSettingsError,
    MediaError,
    NoAudioStreamError,
    NoFaceError,
    NotAVideoError,
    VFHGANError,
    WeightsNotFoundError,
)
from vfhgan_core.faces.detection import DetectorConfig
from vfhgan_core.io import probe_video
from vfhgan_core.weights.variants import parse_variant, variant_name

from .model_store import ModelStore
from .sessions import SessionRegistry
from .settings import AppSettings, SettingsError
from .variants import ALL_VARIANTS, describe_variant

# torch and the restoration code (app.engine, app.figures) are imported on first use, so the
# page is served a few seconds sooner; the models warm up in the background meanwhile.

if TYPE_CHECKING:
    from vfhgan_core.pipelines.frequency_lab import FrequencyLabConfig

    from .engine import JobResult

log = logging.getLogger(__name__)

#: titles of the error pop-ups, most specific class first
_ERROR_TITLES: list[tuple[type[BaseException], str]] = [
    (NotAVideoError, "Not a video"),
    (CorruptVideoError, "Damaged video"),
    (EmptyVideoError, "Empty video"),
    (NoAudioStreamError, "No audio track"),
    (MediaError, "Unreadable video"),
    (NoFaceError, "No face found"),
    (FaceTooSmallError, "Face too small"),
    (DetectorUnavailableError, "Face detector unavailable"),
    (WeightsNotFoundError, "No weights for this combination"),
    (LabSettingsError, "Check the lab settings"),
    (LabCancelled, "Cancelled"),
    (VFHGANError, "Cannot restore this video"),
]
NO_COMPARE = "none"
MODES = ("simulate", "real")  # vfhgan_core.pipelines.restore.MODES, without importing torch at start-up


def user_error(exc: BaseException) -> gr.Error:
    """The ``gr.Error`` shown for a user-caused failure (message of the library's error)."""
    title = next((t for cls, t in _ERROR_TITLES if isinstance(exc, cls)), "Check the input")
    return gr.Error(str(exc), title=title, print_exception=False)


@contextmanager
def readable_errors(action: str) -> Iterator[None]:
    """Turn every failure inside the block into a ``gr.Error`` a user can read."""
    try:
        yield
    except gr.Error:
        raise
    except (VFHGANError, SettingsError) as exc:
        raise user_error(exc) from None
    except MemoryError:
        raise gr.Error("The server ran out of memory for this clip. Choose a shorter segment.",
                       title="Out of memory", print_exception=False) from None
    except Exception as exc:
        from vfhgan_core.pipelines.restore import RestoreCancelled

        if isinstance(exc, RestoreCancelled):
            raise gr.Error("The run was cancelled; nothing was kept.", title="Cancelled",
                           print_exception=False) from None
        # a bug: keep the traceback in the log, show one readable line
        log.exception("unexpected error while %s", action)
        raise gr.Error(f"Unexpected error while {action} ({type(exc).__name__}: {exc}). The server keeps running; "
                       "please report it with the clip if it happens again.",
                       title="Something went wrong", print_exception=False) from None


def _lab_to_the_end(crops: np.ndarray, config, should_stop) -> dict:
    """Run the lab to its last step and return the last snapshot's figures."""
    from vfhgan_core.pipelines.frequency_lab import run_frequency_lab

    snap = None
    for snap in run_frequency_lab(crops, config, should_stop=should_stop):
        pass
    return snap.summary()


def _session(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "anonymous"


class AppCallbacks:
    """Handlers of the UI's events; one instance serves every session."""

    def __init__(self, settings: AppSettings, store: ModelStore | None = None,
                 sessions: SessionRegistry | None = None) -> None:
        self.settings = settings
        self.store = store or ModelStore(settings.weights, DetectorConfig(model_path=settings.detector_model,
                                                                           det_size=settings.det_size))
        self.sessions = sessions or SessionRegistry()

    # ------------------------------------------------------------------ inputs

    def on_video(self, video: str | None):
        """A clip was uploaded, recorded or picked: check it and size the segment controls."""
        s = self.settings
        if not video:
            return (gr.update(maximum=60.0, value=0.0), gr.update(value=s.proposed_seconds),
                    "Upload a talking-face video, record one with the webcam, or pick an example below.")
        with readable_errors("reading the video"):
            info = probe_video(video)
        length = min(s.proposed_seconds, info.duration)
        audio = (f"audio {info.audio.codec} {info.audio.sample_rate / 1000:g} kHz" if info.has_audio
                 else "**no audio track**: audio-conditioned variants will hear silence")
        long = (f" Longer than {s.max_seconds:g} s: pick the segment to restore (start, length)."
                if info.duration > s.max_seconds else "")
        text = (f"`{Path(video).name}`: {info.width}×{info.height}, {info.fps:.2f} fps, {info.duration:.2f} s, "
                f"{audio}.{long}")
        # the length keeps its fixed maximum (the server's limit; a segment running past the end of the
        # clip is shortened): a Run clicked before this update reaches the page must still pass
        return (gr.update(maximum=max(0.0, round(info.duration - 0.04, 2)), value=0.0),
                gr.update(value=round(length, 2)), text)

    def lab_time_range(self, video: str | None, at: float):
        """Keep the lab's frame time inside the clip (after :meth:`on_video` has checked it)."""
        if not video:
            return gr.update()
        try:
            info = probe_video(video)
        except VFHGANError:
            return gr.update()   # on_video has shown the problem
        top = max(0.0, round(info.duration - 0.2, 2))
        return gr.update(maximum=top, value=min(float(at or 0.0), top))

    def on_switches(self, audio_conditioning: bool, frequency_loss: bool, lip_loss: bool,
                    real_world: bool = False) -> str:
        """Say whether the trained variant the switches pick has weights."""
        v = variant_name(bool(audio_conditioning), bool(frequency_loss), bool(lip_loss), real_world=bool(real_world))
        if not self.store.is_local:
            return f"Model: **{v}** ({describe_variant(v)}), from {self.store.source_text}."
        available = self.store.available()
        if v in available:
            trained = self.store.training_summary(v)
            return (f"Model: **{v}** ({describe_variant(v)}) ✓ weights available"
                    + (f"; trained {trained}." if trained else "."))
        known = ", ".join(f"`{a}`" for a in available) or "none yet"
        return (f"⚠️ Model **{v}** ({describe_variant(v)}): **no trained weights for this combination** in "
                f"{self.store.source_text}. Variants with weights: {known}.")

    @staticmethod
    def on_mode(mode: str, simulated_input: str = "clean"):
        """Recommend the variant trained on degraded video where the input is degraded, and show the
        simulated-input choice in simulate mode only.

        Real mode takes a genuinely low-resolution upload, which is usually also blurred, noisy and
        compressed; simulate mode's degraded input imitates that. Its clean input is the bicubic ×4
        downsampling the clean variants trained on.
        """
        degraded = mode == "real" or simulated_input == "degraded"
        return gr.update(value=degraded), gr.update(visible=mode == "simulate")

    def variant_choices(self) -> list[tuple[str, str]]:
        """Choices of the "compare with" dropdown: ``none`` and every variant (marked when it has no weights)."""
        available = set(self.store.available()) if self.store.is_local else None
        names = list(ALL_VARIANTS) + [v for v in sorted(available or ()) if v not in ALL_VARIANTS]
        choices = [("none", NO_COMPARE)]
        for v in names:
            mark = "" if available is None or v in available else " — no weights"
            choices.append((f"{v}{mark}", v))
        return choices

    # ------------------------------------------------------------------ the main action

    async def restore(
        self,
        video: str | None,
        audio_conditioning: bool = True,
        frequency_loss: bool = True,
        lip_loss: bool = True,
        mode: str = "simulate",
        start: float = 0.0,
        length: float | None = None,
        compare_with: str = NO_COMPARE,
        real_world: bool = False,
        simulated_input: str = "clean",
        degradation_seed: float = 0,
        self_ensemble: bool = False,
        request: gr.Request = None,
        progress: gr.Progress = gr.Progress(),
    ):
        """Restore the face in a video with the trained variant the switches pick.

        Args:
            video: the video file (mp4, mov, mkv, webm, avi, mpg...).
            audio_conditioning: use the model that listens to the speech.
            frequency_loss: use the model trained with the frequency losses (focal and radial spectrum).
            lip_loss: use the model trained with the lip-reading loss.
            mode: "simulate" (degrade the face to 32x32 and compare with the original) or
                "real" (the face is genuinely low-res; the result is pasted back into the frame).
            start: start of the segment to restore, in seconds.
            length: length of the segment, in seconds (at most the server's limit).
            compare_with: a second variant name to compare with, or "none".
            real_world: use the variant trained on blurred, noisy, compressed inputs (the
                ``-real`` variants, recommended for genuinely low-quality video in real mode).
            simulated_input: simulate mode: "clean" (bicubic ×4) or "degraded" (one draw of the
                real-video chain: blur, noise, JPEG or H.264 compression).
            degradation_seed: which draw of the chain ("degraded" input); the same draw as
                ``python -m vfhgan_core enhance --degrade blind --degrade-seed N``.
            self_ensemble: also restore every frame mirrored and average the two (the flip
                self-ensemble: closer to the original, a little smoother, twice the time).

        Returns:
            the restored video (simulate: the 128x128 face; real: the full frame), the
            side-by-side comparison video (LR | bicubic | variants | ground truth), the
            metrics table (PSNR-Y, SSIM-Y, ERQA per method; empty in real mode), and the
            session's result for the inspector.
        """
        from . import figures
        from .engine import plan_segment, run_job

        session = _session(request)
        with readable_errors("restoring the video"):
            if not video:
                raise SettingsError("Upload a video, record one with the webcam, or pick an example first.")
            if mode not in MODES:
                raise SettingsError(f"Mode must be one of {', '.join(MODES)}, got {mode!r}.")
            try:
                seed = int(degradation_seed or 0)
            except (TypeError, ValueError):
                raise SettingsError(f"The degradation draw must be a whole number, got {degradation_seed!r}.") from None
            if not 0 <= seed < 2 ** 31:
                raise SettingsError(f"The degradation draw must lie between 0 and {2 ** 31 - 1}, got {seed}.")
            main = variant_name(bool(audio_conditioning), bool(frequency_loss), bool(lip_loss),
                                real_world=bool(real_world))
            variants = [main]
            if compare_with and compare_with != NO_COMPARE and compare_with != main:
                try:
                    parse_variant(compare_with)
                except ValueError as exc:
                    raise SettingsError(f"Unknown variant to compare with: {exc}") from None
                variants.append(compare_with)
            progress(0.0, desc="Reading the video")
            info = probe_video(video)
            segment = plan_segment(info, start, length, self.settings.max_seconds)
            flag, out_dir = self.sessions.start_run(session)
            t0 = time.perf_counter()
            work = asyncio.create_task(asyncio.to_thread(
                run_job, self.store, video, variants, mode, segment, out_dir, info=info,
                batch_size=self.settings.batch_size, progress=lambda label, value: progress(value, desc=label),
                should_stop=flag.is_set, simulated_input=simulated_input, degradation_seed=seed,
                self_ensemble=bool(self_ensemble)))
            try:
                # the work runs in a thread; when Gradio cancels this request (the Cancel button, a
                # client's job.cancel()), the flag makes the thread stop at its next chunk of frames
                job = await asyncio.shield(work)
            except asyncio.CancelledError:
                flag.set()
                work.add_done_callback(lambda w, t0=t0: self._log_cancelled(session, w, t0))
                raise
            finally:
                self.sessions.end_run(session, flag)
        log.info("session %s: %s", session[:8], figures.summary_markdown(job))
        return str(job.restored_video), str(job.comparison_video), figures.metrics_table(job), job

    @staticmethod
    def _log_cancelled(session: str, work: asyncio.Future, t0: float) -> None:
        from vfhgan_core.pipelines.restore import RestoreCancelled

        exc = None if work.cancelled() else work.exception()
        stopped = "stopped" if isinstance(exc, RestoreCancelled) else f"ended ({type(exc).__name__ if exc else 'finished'})"
        log.info("session %s: run cancelled; work %s %.2f s after it started", session[:8], stopped,
                 time.perf_counter() - t0)

    def cancel(self, request: gr.Request = None) -> str:
        """Stop this session's run at its next check (between chunks of frames)."""
        n = self.sessions.cancel(_session(request))
        return "Cancelled: the run stopped after its current chunk of frames." if n else "Nothing to cancel."

    def unload(self, request: gr.Request = None) -> None:
        """The browser tab closed: stop its runs and delete its files."""
        self.sessions.close(_session(request))

    # ------------------------------------------------------------------ results

    def show_results(self, job: JobResult | None, before: str, after: str):
        """After a run: summary, frame slider range, inspector, frequency view and per-frame metrics."""
        from . import figures

        if job is None:
            return (gr.update(),) * 12
        names = figures.panel_names(job)
        before = before if before in names else "bicubic"
        after = after if after in names and after != before else job.variants[0]
        index = job.result.num_frames // 2
        inspector = self.inspect(job, index, before, after)
        note = "" if job.scores is not None else " Metrics need a ground truth: switch to simulate mode to score."
        with readable_errors("reading the training curves"):
            curves = figures.training_curves_figure(job, {v: self.store.spectral_curves(v) for v in job.variants})
        return (
            figures.summary_markdown(job) + note,
            curves,
            gr.update(minimum=0, maximum=job.result.num_frames - 1, value=index, step=1, interactive=True),
            gr.update(choices=names, value=before),
            gr.update(choices=names, value=after),
            *inspector,
        )

    def inspect(self, job: JobResult | None, index: float, before: str, after: str):
        """Everything that shows one frame: side-by-side, before/after, mouth zooms, spectra, metric marker."""
        from . import figures

        if job is None:
            return (gr.update(),) * 7
        with readable_errors("drawing the frame"):
            i = int(np.clip(int(round(index or 0)), 0, job.result.num_frames - 1))
            return (
                figures.comparison_image(job, i),
                figures.before_after(job, i, before, after),
                figures.mouth_strip(job, i),
                figures.spectra_figure(job, i),
                figures.radial_figure(job, i),
                figures.loss_figure(job, i),
                figures.metrics_figure(job, i),
            )

    def swap_panels(self, job: JobResult | None, index: float, before: str, after: str):
        """The before/after slider with other panels."""
        from . import figures

        if job is None:
            return gr.update()
        with readable_errors("drawing the frame"):
            i = int(np.clip(int(round(index or 0)), 0, job.result.num_frames - 1))
            return figures.before_after(job, i, before, after)

    # ------------------------------------------------------------------ the frequency-loss lab

    def lab_frames(self, video: str | None, at: float, frames: int) -> np.ndarray:
        """The 128×128 face crops of ``frames`` consecutive frames from ``at`` seconds of ``video``."""
        from vfhgan_core.faces.clip import PipelineConfig
        from vfhgan_core.pipelines.frequency_lab import face_frames

        if not video:
            raise SettingsError("Upload a video, record one with the webcam, or pick an example first: "
                                "the lab trains on the face in it.")
        with self.store.detector() as detector:
            return face_frames(video, float(at or 0.0), int(frames or 1), detector,
                               PipelineConfig(detector=self.store.detector_config))

    @staticmethod
    def lab_config(steps: float, alpha: float, loss_weight: float, log_matrix: bool,
                   patch_factor) -> FrequencyLabConfig:
        """The lab's settings from the tab's controls (about 20 snapshots per run)."""
        from vfhgan_core.pipelines.frequency_lab import FrequencyLabConfig

        try:
            steps_i, patch_i = int(steps), int(patch_factor)
        except (TypeError, ValueError):
            raise SettingsError(f"Steps and patch factor must be whole numbers, got {steps!r} and "
                                f"{patch_factor!r}.") from None
        snapshot = max(10, min(200, steps_i // 20 // 10 * 10))   # about 20 updates per run
        return FrequencyLabConfig(steps=steps_i, snapshot_every=snapshot, alpha=float(alpha),
                                  loss_weight=float(loss_weight), log_matrix=bool(log_matrix),
                                  patch_factor=patch_i)

    def run_lab(self, video: str | None, at: float = 0.0, frames: float = 1, steps: float = 1000,
                alpha: float = 1.0, loss_weight: float = 1.0, log_matrix: bool = False, patch_factor="1",
                request: gr.Request = None):
        """Stream a lab run: every snapshot updates the status, images, plots, table and JSON."""
        from vfhgan_core.pipelines.frequency_lab import run_frequency_lab

        from . import lab_figures

        session = _session(request)
        snap = None
        with readable_errors("running the frequency-loss lab"):
            config = self.lab_config(steps, alpha, loss_weight, log_matrix, patch_factor)
            yield ("Finding the face…", *(gr.update(),) * 6)
            crops = self.lab_frames(video, at, int(frames))
            flag = self.sessions.start_lab(session)
            try:
                for snap in run_frequency_lab(crops, config, should_stop=flag.is_set):
                    yield (lab_figures.lab_status(snap), lab_figures.lab_panels(snap),
                           lab_figures.band_error_figure(snap), lab_figures.focal_weight_figure(snap),
                           lab_figures.curves_figure(snap), lab_figures.band_table(snap),
                           snap.summary() if snap.done else gr.update())
            except LabCancelled:
                done = f"step {snap.step} of {snap.total_steps}" if snap is not None else "the start"
                yield (f"**Stopped** at {done}: the plots show where the two networks were.",
                       *(gr.update(),) * 5, snap.summary() if snap is not None else gr.update())
            finally:
                self.sessions.end_lab(session, flag)
                if snap is not None:
                    log.info("session %s: lab %d/%d steps in %.1f s", session[:8], snap.step, snap.total_steps,
                             snap.seconds)

    async def ffl_lab(self, video: str | None, at: float = 0.0, frames: float = 1, steps: float = 1000,
                      alpha: float = 1.0, loss_weight: float = 1.0, log_matrix: bool = False, patch_factor="1",
                      request: gr.Request = None) -> dict:
        """Run the frequency-loss lab to the end and return its figures.

        Args:
            video: the video file; the lab trains on the face in it.
            at: time of the first frame, in seconds.
            frames: how many consecutive frames to train on (1 to 8).
            steps: training steps of each network.
            alpha: focal exponent α of the frequency loss.
            loss_weight: β, weight of the frequency loss added to the pixel loss.
            log_matrix: use log(w + 1) before normalising the focal weights.
            patch_factor: 1, 2, 4 or 8: spectra per patch of a p x p grid.

        Returns:
            the settings, the band edges, each network's and bicubic's relative spectral error per
            band (dB), the mean above the input's Nyquist limit, PSNR-Y, and the curves over the steps.
        """
        session = _session(request)
        with readable_errors("running the frequency-loss lab"):
            config = self.lab_config(steps, alpha, loss_weight, log_matrix, patch_factor)
            crops = await asyncio.to_thread(self.lab_frames, video, at, int(frames))
            flag = self.sessions.start_lab(session)
            work = asyncio.create_task(asyncio.to_thread(_lab_to_the_end, crops, config, flag.is_set))
            try:
                # a cancelled request (the client's job.cancel(), a closed tab) stops the training at its next step
                return await asyncio.shield(work)
            except asyncio.CancelledError:
                flag.set()
                work.add_done_callback(lambda w: log.info(
                    "session %s: lab cancelled; %s", session[:8],
                    "training stopped" if not w.cancelled() and isinstance(w.exception(), LabCancelled)
                    else "it had ended"))
                raise
            finally:
                self.sessions.end_lab(session, flag)

    def cancel_lab(self, request: gr.Request = None):
        """Stop this session's lab run at its next step.

        The run itself then says where it stopped; a message from here could arrive after that one
        and hide it, so the status is left alone unless there was nothing to stop.
        """
        n = self.sessions.cancel_lab(_session(request))
        return gr.update() if n else "No lab run to stop."
