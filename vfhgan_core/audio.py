"""Speech features for the generator's audio branch (the Wav2Lip convention).

A clip's speech track (16 kHz mono, float in [-1, 1]) becomes a normalised
log-mel spectrogram at 80 mel frames per second, and each video frame gets the
16 mel frames (0.2 s) centred on its timestamp::

    wav (N,) ──pre-emphasis 0.97──► torch.stft (n_fft 800, hop 200, Hann 800, centre)
        ──|·| (amplitude)──► Slaney mel filterbank (80 bins, 55–7600 Hz)
        ──► 20·log10(max(1e-5, x)) − 20 dB ──► clip(8·(S + 100)/100 − 4, −4, 4)
        ──► mel (80, M), M = 1 + N // 200

Conventions (see DECISIONS.md §2):

* **Amplitude, not power.** Like Wav2Lip's ``audio.melspectrogram`` (which
  applies the mel filterbank to ``np.abs(librosa.stft(...))``), the filterbank
  is applied to the STFT *magnitude* and converted to dB with ``20·log10``.
  Feeding power here would double every dB value and saturate the clip.
* **Centred frames with reflection padding.** ``torch.stft(center=True,
  pad_mode="reflect")``, so mel frame ``k`` is centred on ``k · hop / sr`` =
  ``k / 80`` seconds. Reflection padding is what Wav2Lip got from the librosa
  it pins (0.7, whose ``stft`` defaulted to ``pad_mode="reflect"``; current
  librosa defaults to zeros, which changes only the first and last few frames).
  Signals too short to reflect (at most ``n_fft // 2`` samples, 25 ms) are
  zero-padded instead.
* **Windows centred on the frame's timestamp.** The window of the video frame
  shown at ``t`` seconds is mel frames ``[c − 8, c + 8)`` with
  ``c = round(t · 80)``; indices outside the spectrogram repeat its first or
  last frame. Wav2Lip itself starts a 16-frame window at ``int(80 · t)`` of the
  *first* of 5 video frames; a per-frame generator is better served by audio
  around the frame itself. Timestamps come from the decoder, not
  ``index / fps``, so variable and odd frame rates stay in sync.
* **Silence** (all-zero audio) maps to −4 everywhere (−120 dB is below the
  −100 dB floor); :func:`silent_mel_windows` computes it through the same path.

Everything runs batched on the device of the input tensor (numpy → CPU).
The mel filterbank comes from ``librosa.filters.mel`` (Slaney scale and
Slaney area normalisation) and is cached per (device, dtype, config).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Union

import numpy as np
import torch

ArrayLike = Union[np.ndarray, torch.Tensor]

__all__ = [
    "AudioConfig",
    "log_mel_spectrogram",
    "mel_window_indices",
    "mel_windows",
    "mel_windows_for_clip",
    "mel_columns",
    "silent_mel_windows",
]


@dataclass(frozen=True)
class AudioConfig:
    """Settings of the speech features (defaults: Wav2Lip's ``hparams.py``).

    Attributes:
        sample_rate: rate the waveform must be at, in Hz (decode/resample to it).
        n_fft: FFT size in samples (800 = 50 ms).
        hop_length: samples between mel frames (200 = 12.5 ms → 80 frames/s).
        win_length: Hann window length in samples.
        n_mels: number of mel bins.
        fmin: lowest mel filter edge, Hz.
        fmax: highest mel filter edge, Hz.
        preemphasis: coefficient ``k`` of ``y[n] = x[n] − k·x[n−1]`` (0 disables it).
        ref_level_db: dB subtracted after ``20·log10`` (the reference level).
        min_level_db: floor of the dB scale; also fixes the amplitude floor
            ``10 ** (min_level_db / 20)`` (1e-5).
        max_abs_value: the normalised values lie in ``[−max_abs_value, max_abs_value]``.
        window_frames: mel frames per video-frame window (16 = 0.2 s).
    """

    sample_rate: int = 16000
    n_fft: int = 800
    hop_length: int = 200
    win_length: int = 800
    n_mels: int = 80
    fmin: float = 55.0
    fmax: float = 7600.0
    preemphasis: float = 0.97
    ref_level_db: float = 20.0
    min_level_db: float = -100.0
    max_abs_value: float = 4.0
    window_frames: int = 16

    def __post_init__(self) -> None:
        problems = []
        for name in ("sample_rate", "n_fft", "hop_length", "win_length", "n_mels", "window_frames"):
            if int(getattr(self, name)) <= 0:
                problems.append(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.win_length > self.n_fft:
            problems.append(f"win_length ({self.win_length}) must not exceed n_fft ({self.n_fft})")
        if not 0.0 <= self.fmin < self.fmax <= self.sample_rate / 2:
            problems.append(
                f"need 0 <= fmin < fmax <= sample_rate/2, got fmin={self.fmin}, fmax={self.fmax}, "
                f"sample_rate={self.sample_rate}"
            )
        if self.min_level_db >= 0:
            problems.append(f"min_level_db must be negative, got {self.min_level_db}")
        if self.max_abs_value <= 0:
            problems.append(f"max_abs_value must be positive, got {self.max_abs_value}")
        if problems:
            raise ValueError("invalid AudioConfig: " + "; ".join(problems))

    @property
    def mel_fps(self) -> float:
        """Mel frames per second (``sample_rate / hop_length``; 80.0 by default)."""
        return self.sample_rate / self.hop_length

    @property
    def window_seconds(self) -> float:
        """Duration a window covers, in seconds (0.2 by default)."""
        return self.window_frames / self.mel_fps


# --------------------------------------------------------------------------- caches


@functools.lru_cache(maxsize=16)
def _mel_basis_numpy(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """librosa's Slaney-scale, Slaney-normalised filterbank, shape (n_mels, n_fft // 2 + 1), float64."""
    import librosa  # imported lazily: librosa pulls in numba, slow to import

    return librosa.filters.mel(
        sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax,
        htk=False, norm="slaney", dtype=np.float64,
    )


_TENSOR_CACHE: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}


def _mel_basis_and_window(config: AudioConfig, device: torch.device, dtype: torch.dtype):
    """The (n_mels, n_fft//2+1) filterbank and the Hann window, cached per (device, dtype, config)."""
    key = (str(device), dtype, config)
    cached = _TENSOR_CACHE.get(key)
    if cached is None:
        basis = _mel_basis_numpy(config.sample_rate, config.n_fft, config.n_mels,
                                 float(config.fmin), float(config.fmax))
        # periodic Hann, as librosa/scipy.signal.get_window("hann", fftbins=True)
        window = torch.hann_window(config.win_length, periodic=True, dtype=dtype, device=device)
        cached = (torch.as_tensor(basis, dtype=dtype, device=device), window)
        _TENSOR_CACHE[key] = cached
    return cached


# --------------------------------------------------------------------------- spectrogram


def _as_waveform_tensor(wav: ArrayLike) -> torch.Tensor:
    if isinstance(wav, np.ndarray):
        wav = torch.from_numpy(np.ascontiguousarray(wav))
    elif not isinstance(wav, torch.Tensor):
        raise TypeError(f"wav must be a numpy array or a torch tensor, got {type(wav).__name__}")
    if not wav.is_floating_point():
        raise TypeError(
            f"wav must hold floats in [-1, 1] (got dtype {wav.dtype}); convert integer PCM "
            "first, e.g. int16 samples / 32768"
        )
    if wav.ndim not in (1, 2):
        raise ValueError(f"wav must have shape (N,) or (B, N), got {tuple(wav.shape)}")
    if wav.shape[-1] == 0:
        raise ValueError("wav holds no samples; a clip without speech should use silent_mel_windows()")
    return wav


def log_mel_spectrogram(wav: ArrayLike, config: AudioConfig = AudioConfig()) -> torch.Tensor:
    """Normalised log-mel spectrogram of a 16 kHz mono waveform (Wav2Lip convention).

    Args:
        wav: float waveform in [-1, 1] at ``config.sample_rate``: numpy array or
            torch tensor of shape (N,) or (B, N) (float16/32/64). Integer PCM is refused.
        config: the feature settings.

    Returns:
        float32 tensor of shape (n_mels, M) or (B, n_mels, M) with ``M = 1 + N // hop_length``,
        values in ``[-max_abs_value, max_abs_value]`` (−4 = silence/−100 dB floor), on the
        input tensor's device (CPU for numpy). Mel frame ``k`` is centred on ``k / mel_fps`` s.
        Computed in float64 for float64 input, in float32 otherwise.
    """
    x = _as_waveform_tensor(wav)
    squeeze = x.ndim == 1
    if squeeze:
        x = x.unsqueeze(0)
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    x = x.to(dtype)

    if config.preemphasis:  # y[n] = x[n] - k * x[n-1], y[0] = x[0] (scipy.signal.lfilter([1, -k], [1], x))
        y = x.clone()
        y[:, 1:].add_(x[:, :-1], alpha=-config.preemphasis)
        x = y

    basis, window = _mel_basis_and_window(config, x.device, dtype)
    # reflection padding needs more samples than the pad; shorter signals get zeros
    pad_mode = "reflect" if x.shape[1] > config.n_fft // 2 else "constant"
    spec = torch.stft(
        x, n_fft=config.n_fft, hop_length=config.hop_length, win_length=config.win_length,
        window=window, center=True, pad_mode=pad_mode, normalized=False, onesided=True,
        return_complex=True,
    )
    amplitude = spec.abs()                                 # (B, n_fft//2+1, M), amplitude
    mel = torch.matmul(basis, amplitude)                   # (B, n_mels, M)

    floor = 10.0 ** (config.min_level_db / 20.0)           # 1e-5 for −100 dB
    db = 20.0 * torch.log10(mel.clamp_min(floor)) - config.ref_level_db
    m = config.max_abs_value
    out = (2.0 * m * (db - config.min_level_db) / (-config.min_level_db) - m).clamp(-m, m)
    out = out.to(torch.float32)
    return out[0] if squeeze else out


# --------------------------------------------------------------------------- windows


def _as_timestamps(timestamps: ArrayLike) -> torch.Tensor:
    if isinstance(timestamps, torch.Tensor):
        t = timestamps.detach().to("cpu", torch.float64)
    else:
        try:
            t = torch.as_tensor(np.asarray(timestamps, dtype=np.float64))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"timestamps must be a 1-D sequence of seconds: {exc}") from None
    if t.ndim != 1:
        raise ValueError(f"timestamps must have shape (T,), got {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise ValueError("timestamps must be finite seconds (found NaN or inf)")
    return t


def mel_window_indices(timestamps: ArrayLike, num_mel_frames: int,
                       config: AudioConfig = AudioConfig()) -> torch.Tensor:
    """Mel-frame indices of each video frame's window (what :func:`mel_windows` gathers).

    Args:
        timestamps: (T,) presentation times of the video frames, seconds.
        num_mel_frames: M, the length of the spectrogram the indices point into.
        config: the feature settings.

    Returns:
        int64 CPU tensor (T, window_frames): row k is ``c − w//2 + [0, w)`` with
        ``c = round(t_k · mel_fps)`` (half to even), clamped to ``[0, M − 1]`` (edge padding).
    """
    if int(num_mel_frames) <= 0:
        raise ValueError(f"num_mel_frames must be positive, got {num_mel_frames}")
    t = _as_timestamps(timestamps)
    centre = torch.round(t * config.mel_fps).to(torch.int64)            # (T,)
    offsets = torch.arange(config.window_frames, dtype=torch.int64) - config.window_frames // 2
    return (centre[:, None] + offsets[None, :]).clamp_(0, int(num_mel_frames) - 1)


def mel_windows(mel: torch.Tensor, timestamps: ArrayLike,
                config: AudioConfig = AudioConfig()) -> torch.Tensor:
    """The window of mel frames centred on each video frame's timestamp.

    Args:
        mel: (n_mels, M) spectrogram from :func:`log_mel_spectrogram` (tensor or numpy).
        timestamps: (T,) seconds of the video frames, as the decoder reports them
            (``frame.time``), *not* ``index / fps``.
        config: the feature settings (must match the one that made ``mel``).

    Returns:
        float32 tensor (T, 1, n_mels, window_frames) on ``mel``'s device; window k holds mel
        frames ``[c − 8, c + 8)``, ``c = round(t_k · 80)``, edge-padded outside ``[0, M)``.
    """
    if isinstance(mel, np.ndarray):
        mel = torch.from_numpy(mel)
    if not isinstance(mel, torch.Tensor) or mel.ndim != 2 or mel.shape[0] != config.n_mels:
        shape = tuple(mel.shape) if hasattr(mel, "shape") else type(mel).__name__
        raise ValueError(f"mel must be a ({config.n_mels}, M) spectrogram, got {shape}")
    idx = mel_window_indices(timestamps, mel.shape[1], config).to(mel.device)   # (T, W)
    windows = mel[:, idx]                                                        # (n_mels, T, W)
    return windows.permute(1, 0, 2).unsqueeze(1).to(torch.float32).contiguous()


def mel_windows_for_clip(wav: ArrayLike, timestamps: ArrayLike,
                         config: AudioConfig = AudioConfig()) -> torch.Tensor:
    """:func:`log_mel_spectrogram` then :func:`mel_windows` for one (N,) waveform.

    Returns float32 (T, 1, n_mels, window_frames) on the waveform's device.
    """
    x = _as_waveform_tensor(wav)
    if x.ndim != 1:
        raise ValueError(f"mel_windows_for_clip takes one mono waveform (N,), got {tuple(x.shape)}")
    return mel_windows(log_mel_spectrogram(x, config), timestamps, config)


def mel_columns(windows: np.ndarray, timestamps: np.ndarray,
                config: AudioConfig = AudioConfig()) -> np.ndarray:
    """The spectrogram columns a clip's windows were cut from, as ``(n_mels, M)``.

    Inverse of :func:`vfhgan_core.audio.mel_windows`: cutting the result again at the same
    timestamps gives back ``windows`` exactly. Columns past the audio's end, which the
    original cut repeated, come back as that repetition.

    Raises:
        ValueError: the windows were not cut from one spectrogram at these timestamps.
    """
    windows = np.asarray(windows, dtype=np.float32)
    t, _, n_mels, w = windows.shape
    idx = mel_window_indices(timestamps, 1 << 30, config).numpy()        # not clamped above
    cols = np.zeros((n_mels, int(idx.max()) + 1), dtype=np.float32)
    cols[:, idx.reshape(-1)] = windows[:, 0].transpose(1, 0, 2).reshape(n_mels, -1)
    again = mel_windows(torch.from_numpy(cols), timestamps, config).numpy()
    if not np.allclose(again, windows, atol=1e-6):
        raise ValueError("the mel windows are not cuts of one spectrogram at these timestamps")
    return cols


def silent_mel_windows(num_frames: int, config: AudioConfig = AudioConfig(),
                       device: torch.device | str | None = None) -> torch.Tensor:
    """Windows for a clip without audio: what all-zero audio maps to (−4 everywhere by default).

    Computed through :func:`log_mel_spectrogram` and :func:`mel_windows` on one window's
    worth of zeros, then repeated. Returns float32 (num_frames, 1, n_mels, window_frames).
    """
    if int(num_frames) < 0:
        raise ValueError(f"num_frames must be >= 0, got {num_frames}")
    zeros = torch.zeros(config.window_frames * config.hop_length, device=device)
    one = mel_windows(log_mel_spectrogram(zeros, config), [config.window_seconds / 2], config)
    return one.expand(int(num_frames), -1, -1, -1).contiguous()

