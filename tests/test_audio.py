"""Tests of vfhgan_core.audio on real GRID speech, decoded here with PyAV.

The alignment tests use GRID's word alignments (``align/<name>.align``: ``start end word``,
1000 units per 25 fps video frame, ``sil``/``sp`` = silence) as the time reference.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import av
import librosa
import numpy as np
import pytest
import scipy.signal
import torch

from vfhgan_core.audio import (
    AudioConfig,
    log_mel_spectrogram,
    mel_window_indices,
    mel_windows,
    mel_windows_for_clip,
    silent_mel_windows,
)
from vfhgan_core.config import from_dict, to_dict

CFG = AudioConfig()


# --------------------------------------------------------------------------- helpers


@lru_cache(maxsize=64)
def _decode_cached(path: str) -> tuple[np.ndarray, np.ndarray]:
    """(16 kHz mono float32 waveform, video frame timestamps in seconds) of a clip."""
    chunks: list[np.ndarray] = []
    with av.open(path) as container:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=16000)
        start = None
        for frame in container.decode(stream):
            if start is None:
                start = frame.time or 0.0
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    wav = np.concatenate(chunks).astype(np.float32)
    if start and start > 0:  # audio starting after t = 0: put silence in front
        wav = np.concatenate([np.zeros(round(start * 16000), np.float32), wav])
    with av.open(path) as container:
        times = np.array([f.time for f in container.decode(video=0)], dtype=np.float64)
    return wav, times


def decode(data_dir: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    wav, times = _decode_cached(str(data_dir / "grid_s1" / "video" / f"{name}.mp4"))
    return wav.copy(), times.copy()


def read_align(data_dir: Path, name: str) -> list[tuple[float, float, str]]:
    """(start s, end s, word) per line of a GRID alignment."""
    rows = []
    for line in (data_dir / "grid_s1" / "align" / f"{name}.align").read_text().split("\n"):
        if line.strip():
            start, end, word = line.split()
            rows.append((int(start) / 25000, int(end) / 25000, word))
    return rows


def window_energy(windows: torch.Tensor) -> np.ndarray:
    """Per-window loudness: mean over mel bins of the 4 centre mel frames (±25 ms)."""
    w = CFG.window_frames // 2
    return windows[:, 0, :, w - 2 : w + 2].mean(dim=(1, 2)).numpy()


def onset_frame(energy: np.ndarray, need: int = 3) -> int:
    """First video frame starting a run of ``need`` frames above the clip's mid level."""
    lo, hi = np.percentile(energy, 10), np.percentile(energy, 90)
    above = (energy > lo + 0.5 * (hi - lo)).astype(int)
    runs = np.convolve(above, np.ones(need, int), "valid") == need
    assert runs.any(), "no speech found"
    return int(np.argmax(runs))


def librosa_reference(wav: np.ndarray) -> np.ndarray:
    """Wav2Lip's recipe written with librosa/scipy only (reflect padding as its librosa did)."""
    y = scipy.signal.lfilter([1.0, -0.97], [1.0], wav.astype(np.float64))
    amplitude = np.abs(librosa.stft(y, n_fft=800, hop_length=200, win_length=800,
                                    window="hann", center=True, pad_mode="reflect"))
    mel = librosa.filters.mel(sr=16000, n_fft=800, n_mels=80, fmin=55, fmax=7600) @ amplitude
    db = 20 * np.log10(np.maximum(1e-5, mel)) - 20
    return np.clip(8 * (db + 100) / 100 - 4, -4, 4)


# --------------------------------------------------------------------------- spectrogram


def test_matches_librosa_reference_on_real_clip(data_dir, grid_clip):
    wav, _ = decode(data_dir, grid_clip.stem)
    ref = librosa_reference(wav)
    for x in (wav, wav.astype(np.float64)):
        mel = log_mel_spectrogram(x)
        assert mel.dtype == torch.float32 and mel.shape == ref.shape == (80, 1 + len(wav) // 200)
        assert np.abs(mel.numpy() - ref).max() < 1e-3
    # the clip really has speech and silence, so the comparison covers the whole range
    assert ref.min() == -4.0 and ref.max() > 0.5


def test_magnitude_is_amplitude_not_power(data_dir, grid_clip):
    """Doubling the waveform adds 20·log10(2) dB = 0.4816 normalised units (power would double it)."""
    wav, _ = decode(data_dir, grid_clip.stem)
    wav = wav / np.abs(wav).max() * 0.4
    a, b = log_mel_spectrogram(wav).numpy(), log_mel_spectrogram(2 * wav).numpy()
    unclipped = (a > -3.5) & (b < 3.5)
    assert unclipped.mean() > 0.3
    step = 8 * 20 * np.log10(2) / 100
    assert np.allclose((b - a)[unclipped], step, atol=1e-3)


@pytest.mark.parametrize("n", [1, 150, 400, 401, 799, 800, 16000, 47926])
def test_shapes_and_range(n):
    rng = np.random.default_rng(n)
    wav = (rng.standard_normal(n) * 0.3).astype(np.float32)
    mel = log_mel_spectrogram(wav)
    assert mel.shape == (80, 1 + n // 200) and mel.dtype == torch.float32
    assert mel.device.type == "cpu"
    assert float(mel.min()) >= -4.0 and float(mel.max()) <= 4.0
    assert torch.isfinite(mel).all()


def test_batched_equals_unbatched_and_input_types(data_dir):
    a, _ = decode(data_dir, "bbaf2n")
    b, _ = decode(data_dir, "lgif2p")
    n = min(len(a), len(b))
    batch = np.stack([a[:n], b[:n]])
    out = log_mel_spectrogram(batch)
    assert out.shape == (2, 80, 1 + n // 200)
    for i, x in enumerate((a[:n], b[:n])):
        single = log_mel_spectrogram(x)
        assert torch.allclose(out[i], single, atol=1e-5)
        assert torch.equal(log_mel_spectrogram(torch.from_numpy(x)), single)   # numpy == torch
        f64 = log_mel_spectrogram(torch.from_numpy(x.astype(np.float64)))
        assert f64.dtype == torch.float32 and torch.allclose(f64, single, atol=1e-4)
    assert not torch.allclose(out[0], out[1])


def test_silence_and_silent_windows_are_computed_floor():
    zeros = log_mel_spectrogram(np.zeros(4000, np.float32))
    assert torch.all(zeros == -4.0)
    silent = silent_mel_windows(7, CFG)
    assert silent.shape == (7, 1, 80, 16) and silent.dtype == torch.float32
    ts = np.arange(7) / 25.0
    assert torch.equal(silent, mel_windows_for_clip(np.zeros(48000, np.float32), ts))
    # a different floor changes the silent value, so it is not hard-coded
    # (a negative reference level lifts the -100 dB floor to -70 dB: 8 * 30 / 100 - 4 = -1.6)
    lifted = AudioConfig(ref_level_db=-30.0)
    assert torch.allclose(silent_mel_windows(2, lifted), torch.tensor(-1.6), atol=1e-5)
    assert silent_mel_windows(0, CFG).shape == (0, 1, 80, 16)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(TypeError, match="int16 samples / 32768"):
        log_mel_spectrogram(np.zeros(1000, np.int16))
    with pytest.raises(ValueError, match=r"\(N,\) or \(B, N\)"):
        log_mel_spectrogram(np.zeros((1, 2, 1000), np.float32))
    with pytest.raises(ValueError, match="no samples"):
        log_mel_spectrogram(np.zeros(0, np.float32))
    mel = torch.zeros(80, 10)
    with pytest.raises(ValueError, match="finite"):
        mel_windows(mel, [0.0, float("nan")])
    with pytest.raises(ValueError, match=r"\(80, M\)"):
        mel_windows(torch.zeros(10, 80), [0.0])
    with pytest.raises(ValueError, match="one mono waveform"):
        mel_windows_for_clip(np.zeros((2, 1000), np.float32), [0.0])
    with pytest.raises(ValueError, match="fmax"):
        AudioConfig(fmax=9000.0)


def test_config_round_trip_and_mel_fps():
    cfg = AudioConfig(window_frames=8, fmin=40.0)
    assert from_dict(AudioConfig, to_dict(cfg)) == cfg
    assert CFG.mel_fps == 80.0 and CFG.window_seconds == pytest.approx(0.2)


def test_filterbank_cached_per_device_dtype_config():
    from vfhgan_core.audio import _mel_basis_and_window

    cpu = torch.device("cpu")
    first = _mel_basis_and_window(CFG, cpu, torch.float32)
    assert _mel_basis_and_window(AudioConfig(), cpu, torch.float32)[0] is first[0]
    assert _mel_basis_and_window(CFG, cpu, torch.float64)[0].dtype == torch.float64
    other = _mel_basis_and_window(AudioConfig(n_mels=40), cpu, torch.float32)[0]
    assert other.shape == (40, 401) and first[0].shape == (80, 401)


# --------------------------------------------------------------------------- window indexing


@pytest.mark.parametrize("fps", [30000 / 1001, 22.13])
def test_window_centred_on_rounded_timestamp(fps):
    ts = np.arange(300) / fps                       # 10-13 s of video
    m = 700                                         # shorter than the video: right edge padded
    idx = mel_window_indices(ts, m)
    centre = np.array([round(t * 80) for t in ts])
    expected = np.clip(centre[:, None] + np.arange(-8, 8)[None, :], 0, m - 1)
    assert idx.dtype == torch.int64 and np.array_equal(idx.numpy(), expected)
    # the gather: mel frame j holds the value j, so each column shows the frame it came from
    mel = torch.arange(m, dtype=torch.float32).expand(80, m)
    win = mel_windows(mel, torch.tensor(ts))
    assert win.shape == (300, 1, 80, 16)
    assert np.array_equal(win[:, 0, 0, :].numpy(), expected)
    inside = (centre >= 8) & (centre + 8 <= m)
    assert inside.sum() > 100 and np.array_equal(win[inside, 0, 5, 8].numpy(), centre[inside])
    assert np.all(win[-1, 0].numpy() == m - 1)      # past the end: repeats the last frame


def test_edge_padding_on_real_clip(data_dir, grid_clip):
    wav, ts = decode(data_dir, grid_clip.stem)
    mel = log_mel_spectrogram(wav)
    win = mel_windows(mel, ts)
    assert win.shape == (len(ts), 1, 80, 16) and ts[0] == 0.0
    first = win[0, 0]
    assert torch.equal(first[:, :9], mel[:, :1].expand(80, 9))    # frames -8..0 -> frame 0
    assert torch.equal(first[:, 9:], mel[:, 1:8])
    c = round(ts[-1] * 80)
    last = win[-1, 0]
    m = mel.shape[1]
    assert c + 8 > m                                # the last window runs past the end
    assert torch.equal(last[:, : m - (c - 8)], mel[:, c - 8 :])
    assert torch.equal(last[:, m - (c - 8) :], mel[:, -1:].expand(80, c + 8 - m))
    assert torch.equal(mel_windows_for_clip(torch.from_numpy(wav), ts), win)


# --------------------------------------------------------------------------- alignment with speech

# clips of different sentences (first word bin / lay / place / set)
ENERGY_CLIPS = ["bbaf2n", "bgin3a", "lbwy6n", "lrik4p", "pbav2n", "prwd6p", "sgwq1a", "swbv4p"]


def test_windows_inside_words_are_louder_than_silence(data_dir):
    for name in ENERGY_CLIPS:
        wav, ts = decode(data_dir, name)
        energy = window_energy(mel_windows_for_clip(wav, ts))
        words = [(s, e) for s, e, w in read_align(data_dir, name) if w not in ("sil", "sp")]
        in_word = np.zeros(len(ts), bool)
        for s, e in words:
            in_word |= (ts >= s) & (ts < e)
        # well inside the leading/trailing silence: 0.25 s away from any word
        silent = (ts < words[0][0] - 0.25) | (ts > words[-1][1] + 0.25)
        assert in_word.sum() > 20 and silent.sum() > 5, name
        speech, quiet = energy[in_word], energy[silent]
        assert speech.mean() - quiet.mean() > 1.2, (name, speech.mean(), quiet.mean())
        assert np.median(speech) > np.percentile(quiet, 90), name


def _onset_clips(data_dir: Path) -> list[str]:
    """Every 12th GRID clip whose first word starts with a plosive (bin, place): a sharp onset.

    Alignments of l- and s-initial words (lay, set) often start several frames before any
    energy in the raw waveform, so they are no reference for an onset.
    """
    names = sorted(p.stem for p in (data_dir / "grid_s1" / "video").glob("*.mp4"))
    return [n for n in names if n[0] in "bp"][::12]


def test_speech_onset_matches_alignment_and_shift_breaks_it(data_dir):
    """The onset seen through the windows lands within ±2 video frames of the first word.

    A label is used only where the raw waveform (plain numpy RMS over ±25 ms around each
    frame, independent of the code under test) puts the onset within ±2 frames of it too.
    Onsets of aspirated or pre-voiced plosives stay ambiguous by a few frames, so the test
    asks for 90 % of the clips (the mid-level detector fires ~1.5 frames after the label's
    start on both signals), and for the timestamps shifted by +0.5 s to break it.
    """
    errors, shifted_errors, vs_waveform = [], [], []
    for name in _onset_clips(data_dir):
        wav, ts = decode(data_dir, name)
        label = next(s for s, e, w in read_align(data_dir, name) if w not in ("sil", "sp")) * 25
        centres = np.round(ts * 16000).astype(int)
        rms_db = np.array([
            20 * np.log10(np.sqrt(np.mean(wav[max(0, c - 400): c + 400] ** 2)) + 1e-9) for c in centres
        ])
        raw_onset = onset_frame(rms_db)
        if abs(raw_onset - label) > 2:
            continue
        mel = log_mel_spectrogram(wav)
        found = onset_frame(window_energy(mel_windows(mel, ts)))
        errors.append(found - label)
        vs_waveform.append(found - raw_onset)
        shifted_errors.append(onset_frame(window_energy(mel_windows(mel, ts + 0.5))) - label)
    errors, shifted_errors = np.array(errors), np.array(shifted_errors)
    assert len(errors) >= 20
    assert np.mean(np.abs(errors) <= 2) >= 0.9, errors
    # against the raw waveform's own onset there is no lag: a window starting at its frame
    # instead of being centred on it would come 8 mel frames (2.5 video frames) early
    assert np.median(vs_waveform) == 0 and np.mean(np.abs(vs_waveform) <= 1) >= 0.9, vs_waveform
    # +0.5 s makes each window hear audio 12.5 frames ahead: the onset comes that much early
    assert np.mean(np.abs(shifted_errors) <= 2) <= 0.1, shifted_errors
    assert np.median(shifted_errors) < -8, shifted_errors


def test_energy_follows_word_labels_at_zero_lag(data_dir):
    """Cross-correlate window energy with the in-word indicator: the best lag is ~0, and ~-12 shifted."""

    def best_lag(energy, in_word, lags=range(-16, 17)):
        e = (energy - energy.mean()) / energy.std()
        s = in_word - in_word.mean()
        scores = [np.mean(np.roll(e, -lag)[20:-20] * s[20:-20]) for lag in lags]
        return list(lags)[int(np.argmax(scores))]

    lags, shifted_lags = [], []
    for name in ENERGY_CLIPS:
        wav, ts = decode(data_dir, name)
        in_word = np.zeros(len(ts))
        for s, e, w in read_align(data_dir, name):
            if w not in ("sil", "sp"):
                in_word[(ts >= s) & (ts < e)] = 1.0
        mel = log_mel_spectrogram(wav)
        lags.append(best_lag(window_energy(mel_windows(mel, ts)), in_word))
        shifted_lags.append(best_lag(window_energy(mel_windows(mel, ts + 0.5)), in_word))
    assert abs(np.median(lags)) <= 1 and max(abs(x) for x in lags) <= 4, lags
    assert all(-16 <= x <= -9 for x in shifted_lags), shifted_lags


# --------------------------------------------------------------------------- device


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_runs_on_gpu(data_dir, grid_clip):
    wav, ts = decode(data_dir, grid_clip.stem)
    cpu = mel_windows_for_clip(wav, ts)
    gpu = mel_windows_for_clip(torch.from_numpy(wav).cuda(), ts)
    assert gpu.device.type == "cuda"
    assert torch.allclose(gpu.cpu(), cpu, atol=1e-3)
    assert silent_mel_windows(3, CFG, device="cuda").device.type == "cuda"


def test_mel_columns_are_what_the_windows_were_cut_from(prepare_grid_s1) -> None:
    """The inverse of mel_windows, on a real prepared GRID clip (what data/packed.py stores)."""
    from vfhgan_core.audio import mel_columns
    from vfhgan_core.data.shards import load_shard
    from vfhgan_core.data.windows import find_clip_shards

    shard = load_shard(next(iter(find_clip_shards(prepare_grid_s1(("bbaf2n",), tag="melcols")).values())))
    cols = mel_columns(shard.mel_windows, shard.timestamps)
    again = mel_windows(torch.from_numpy(cols), shard.timestamps).numpy()
    np.testing.assert_array_equal(again, shard.mel_windows.astype(np.float32))
    # about 3.2 columns per 25 fps frame instead of a 16-column window per frame
    assert cols.shape[1] < 4 * shard.num_frames
    shifted = shard.timestamps.copy()      # windows cut at other times are not cuts of these columns
    shifted[::2] += 1.0 / 80
    with pytest.raises(ValueError, match="not cuts of one spectrogram"):
        mel_columns(shard.mel_windows, shifted)
