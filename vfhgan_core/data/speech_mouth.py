"""How much of the mouth's shape the speech window predicts: a linear probe on prepared clips.

The audio branch can only help where the speech says something about the pixels. This probe
measures that ceiling without any network: each frame's mouth crop (grey, 16×12, normalised to
zero mean and unit variance, so that skin tone and light drop out) is reduced to its first
principal components over the training clips, and a ridge regression from the frame's log-mel
window (the generator's own input, every band and frame in its place) predicts them. The
score is the R² of each component on clips the regression did not see. A control shifts each
clip's speech by half a second against its frames: the same voice and mel statistics, out of
step with the lips, so what it still predicts is the speaker and not the speech.

``per_clip=True`` asks the question the network faces on a new person: each clip's mel windows
and mouth components are taken relative to that clip's own mean (the mel also scaled by its
spread), so the regression cannot lean on who speaks or how the clip was recorded, only on how
the mouth moves with the sound. The network can afford this: the low-resolution frames give it
the clip's average mouth; what the speech could add is the motion around it.

Ridge regression in closed form (NumPy) rather than scikit-learn: one small solve, and no
dependency added for it.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from vfhgan_core.data.shards import ClipShard

__all__ = ["MOUTH_PATCH", "SpeechMouthProbe", "mouth_patches", "probe_speech_mouth"]

#: size (width, height) the mouth crops are brought to
MOUTH_PATCH = (16, 12)


def mouth_patches(shard: ClipShard, every: int = 1) -> np.ndarray:
    """float32 ``(T', 16·12)`` normalised grey mouth crops of every ``every``-th frame."""
    out = []
    for t in range(0, shard.num_frames, every):
        x1, y1, x2, y2 = np.round(shard.mouth_boxes[t]).astype(int)
        x1, y1 = max(x1, 0), max(y1, 0)
        grey = cv2.cvtColor(np.ascontiguousarray(shard.hr[t, y1:y2, x1:x2]), cv2.COLOR_RGB2GRAY)
        patch = cv2.resize(grey, MOUTH_PATCH, interpolation=cv2.INTER_AREA).astype(np.float32)
        out.append(((patch - patch.mean()) / (patch.std() + 1e-3)).ravel())
    return np.stack(out)


@dataclass(frozen=True)
class SpeechMouthProbe:
    """R² of each mouth component on the held-out clips, with matched and with shifted speech."""

    r2_matched: tuple[float, ...]
    r2_shifted: tuple[float, ...]
    explained: tuple[float, ...]      # share of the mouth crops' variance each component holds
    train_frames: int
    test_frames: int


def _ridge_r2(x_train, y_train, x_test, y_test, lam: float) -> np.ndarray:
    mean, std = x_train.mean(0), x_train.std(0) + 1e-3
    a, b = (x_train - mean) / std, (x_test - mean) / std
    w = np.linalg.solve(a.T @ a + lam * np.eye(a.shape[1]), a.T @ (y_train - y_train.mean(0)))
    pred = b @ w + y_train.mean(0)
    return 1.0 - ((pred - y_test) ** 2).sum(0) / ((y_test - y_test.mean(0)) ** 2).sum(0)


def probe_speech_mouth(train: Sequence[ClipShard], test: Sequence[ClipShard], components: int = 5,
                       lam: float = 1000.0, every: int = 2, shift_s: float = 0.5,
                       per_clip: bool = False) -> SpeechMouthProbe:
    """Fit on ``train`` clips, score on ``test`` clips (use other sentences or other speakers).

    ``every``: use every n-th frame (neighbouring frames are near-duplicates); ``shift_s``: the
    control's shift of the speech against the frames, in seconds (circular within the clip);
    ``per_clip``: score the speech on the motion around each clip's mean (see the module text).
    """
    if not train or not test:
        raise ValueError("the probe needs training and test clips")

    def gather(shards, shifted: bool):
        xs, ys = [], []
        for s in shards:
            idx = np.arange(0, s.num_frames, every)
            if shifted:
                fps = float(s.meta.get("fps") or 25.0)
                lag = max(1, int(round(shift_s * fps)))
                idx = (idx + lag) % s.num_frames
            x = s.mel_windows[idx].reshape(len(idx), -1).astype(np.float32)
            xs.append((x - x.mean(0)) / (x.std() + 1e-3) if per_clip else x)
            ys.append(mouth_patches(s, every))
        return xs, ys

    xs_tr, ys_tr = gather(train, False)
    x_tr, y_tr = np.concatenate(xs_tr), np.concatenate(ys_tr)
    mean = y_tr.mean(0)
    _, sv, vt = np.linalg.svd(y_tr - mean, full_matrices=False)
    basis = vt[:components].T

    def components_of(ys):
        zs = [(y - mean) @ basis for y in ys]
        return np.concatenate([z - z.mean(0) for z in zs] if per_clip else zs)

    z_tr = components_of(ys_tr)
    scores = {}
    for shifted in (False, True):
        x_fit = np.concatenate(gather(train, True)[0]) if shifted else x_tr
        xs_te, ys_te = gather(test, shifted)
        x_te = np.concatenate(xs_te)
        scores[shifted] = _ridge_r2(x_fit, z_tr, x_te, components_of(ys_te), lam)
    share = sv ** 2 / (sv ** 2).sum()
    return SpeechMouthProbe(tuple(float(v) for v in scores[False]), tuple(float(v) for v in scores[True]),
                            tuple(float(v) for v in share[:components]), len(x_tr), len(x_te))
