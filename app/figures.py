"""What the app shows for a finished run: inspector images, plotly figures, the metrics table.

Every function takes a :class:`~app.engine.JobResult` (and a frame index) and
returns something a Gradio component displays. The numbers come from
:mod:`vfhgan_core` (spectra, metrics, mouth crops); this module only lays them out.
Images are enlarged by pixel repetition (nearest neighbour) so pixels stay visible.
"""
from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from vfhgan_core.metrics import METRICS
from vfhgan_core.metrics.spectral import (
    ffl_weight_map,
    high_frequency_energy,
    log_magnitude_spectrum,
    radial_power_spectrum,
    spectral_error_map,
)
from vfhgan_core.pipelines.restore import comparison_frame, comparison_panels, mouth_zooms
from vfhgan_core.weights.variants import parse_variant

from .engine import JobResult

#: colours of the methods in every plot
FIXED_COLORS = {"LR 32x32": "#9467bd", "bicubic": "#7f7f7f", "ground truth": "#111111"}
VARIANT_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c")
#: the highest frequency a 32×32 input can hold, in cycles per 128×128 output pixel
LR_NYQUIST = 0.5 / 4
#: metrics table columns (the API's "metrics" output uses the same headers)
_TABLE_KEYS = ("psnr_y", "ssim_y", "erqa", "mouth_psnr_y", "flicker")
TABLE_HEADERS = ["method", *(METRICS[k].label for k in _TABLE_KEYS)]
_TABLE_DIGITS = (2, 4, 4, 2, 3)
_FONT = dict(size=12)


def color(job: JobResult, name: str) -> str:
    """Plot colour of a method (a variant gets the colour of its position)."""
    if name in FIXED_COLORS:
        return FIXED_COLORS[name]
    return VARIANT_COLORS[job.variants.index(name) % len(VARIANT_COLORS)] if name in job.variants else "#17becf"


def enlarge(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement of a uint8 ``(H, W, 3)`` image by an integer factor."""
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1) if factor > 1 else image


# --------------------------------------------------------------------------- images


def panel_names(job: JobResult) -> list[str]:
    """Columns of the comparison: ``LR 32x32``, ``bicubic``, each variant, ``ground truth`` (simulate)."""
    return [name for name, _ in comparison_panels(job.result)]


def comparison_image(job: JobResult, index: int, factor: int = 2) -> np.ndarray:
    """The labelled side-by-side frame ``index`` (LR | bicubic | variants | GT), enlarged."""
    return enlarge(comparison_frame(job.result, index), factor)


def before_after(job: JobResult, index: int, before: str, after: str, factor: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Two panels of frame ``index`` for the before/after slider, enlarged."""
    panels = dict(comparison_panels(job.result))
    names = list(panels)
    before = before if before in panels else "bicubic"
    after = after if after in panels else names[2]
    return enlarge(panels[before][index], factor), enlarge(panels[after][index], factor)


def mouth_gallery(job: JobResult, index: int, zoom: int = 5) -> list[tuple[np.ndarray, str]]:
    """Mouth zooms of frame ``index`` (LR, bicubic, each variant, GT) with captions."""
    return [(image, name) for name, image in mouth_zooms(job.result, index, zoom=zoom)]


def mouth_strip(job: JobResult, index: int, zoom: int = 5, gap: int = 8, band: int = 30) -> np.ndarray:
    """The mouth zooms of frame ``index`` side by side, each captioned above (white band), as one image."""
    tiles = []
    for image, name in mouth_gallery(job, index, zoom):
        h, w = image.shape[:2]
        tile = np.full((band + h, w + gap, 3), 255, np.uint8)
        tile[band:, :w] = image
        scale = 0.7
        while scale > 0.3 and cv2.getTextSize(name, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] > w - 4:
            scale -= 0.05
        cv2.putText(tile, name, (2, band - 8), cv2.FONT_HERSHEY_SIMPLEX, scale, (20, 20, 20), 1, cv2.LINE_AA)
        tiles.append(tile)
    return np.concatenate(tiles, axis=1)[:, :-gap]


# --------------------------------------------------------------------------- frequency view


def _spectrum_panels(job: JobResult, index: int) -> list[tuple[str, np.ndarray]]:
    r = job.result
    panels = [("bicubic", r.bicubic[index])] + [(v, r.sr[v][index]) for v in job.variants]
    if r.gt is not None:
        panels.append(("ground truth", r.gt[index]))
    return panels


def _db(magnitude: np.ndarray, floor: float = 1e-6) -> np.ndarray:
    """Magnitudes as decibels, ``20·log10(max(|x|, floor))``: a display scale that shows the weak high band."""
    return 20.0 * np.log10(np.maximum(magnitude, floor))


def _color_range(maps: list[np.ndarray], low: float = 1.0, high: float = 99.9) -> tuple[float, float]:
    values = np.concatenate([m.ravel() for m in maps])
    return float(np.percentile(values, low)), float(np.percentile(values, high))


def _frequencies(n: int) -> np.ndarray:
    return np.fft.fftshift(np.fft.fftfreq(n))


def _heat(z: np.ndarray, n: int, zmin: float, zmax: float, colorscale: str, show_scale: bool,
          colorbar_title: str, colorbar_y: float | None = None) -> go.Heatmap:
    f = _frequencies(n)
    bar = dict(title=dict(text=colorbar_title, side="right"), thickness=10, len=0.9 if colorbar_y is None else 0.42)
    if colorbar_y is not None:
        bar["y"] = colorbar_y
    return go.Heatmap(z=np.round(z, 3).tolist(), x=f.tolist(), y=f.tolist(), zmin=zmin, zmax=zmax,
                      colorscale=colorscale, showscale=show_scale, colorbar=bar,
                      hovertemplate="fx %{x:.3f}, fy %{y:.3f} cycles/px<br>%{z:.3f}<extra></extra>")


def spectra_figure(job: JobResult, index: int) -> go.Figure:
    """Log-magnitude 2-D spectra (``|F|`` in dB) of bicubic, each variant and the GT for one frame.

    Centred (DC in the middle), axes in cycles per pixel, one colour scale. The dotted
    square marks the 32×32 input's Nyquist limit: everything outside it was lost by
    the degradation and has to be synthesised.
    """
    panels = _spectrum_panels(job, index)
    # |F| from the library's log(1 + |F|), shown in dB so the weak high frequencies stay visible
    maps = [(name, _db(np.expm1(log_magnitude_spectrum(img)))) for name, img in panels]
    zmin, zmax = _color_range([m for _, m in maps])
    fig = make_subplots(rows=1, cols=len(maps), subplot_titles=[n for n, _ in maps], horizontal_spacing=0.03)
    for k, (_, m) in enumerate(maps, start=1):
        fig.add_trace(_heat(m, m.shape[0], zmin, zmax, "Viridis", k == len(maps), "|F| (dB)"), row=1, col=k)
        fig.add_shape(type="rect", x0=-LR_NYQUIST, y0=-LR_NYQUIST, x1=LR_NYQUIST, y1=LR_NYQUIST,
                      line=dict(color="white", dash="dot", width=1), row=1, col=k)
        fig.update_xaxes(title_text="fx (cycles/px)", row=1, col=k, range=[-0.5, 0.5], constrain="domain")
        fig.update_yaxes(scaleanchor=f"x{k if k > 1 else ''}", row=1, col=k, showticklabels=k == 1,
                         range=[-0.5, 0.5], constrain="domain")
    fig.update_yaxes(title_text="fy (cycles/px)", row=1, col=1)
    fig.update_layout(title=dict(text=f"2-D spectra of frame {index} (dotted: what a 32×32 input can hold)",
                                 font=dict(size=14)),
                      height=330, margin=dict(l=50, r=20, t=70, b=45), font=_FONT)
    return fig


def radial_figure(job: JobResult, index: int) -> go.Figure:
    """Azimuthally averaged power spectrum of bicubic, each variant and the GT (log scale).

    The band above the 32×32 input's Nyquist limit (0.125 cycles/px at 128×128) is
    shaded: bicubic has almost no energy there; a restoration that puts back the
    GT's curve in that band recovered detail. The legend gives each method's share
    of power in that band.
    """
    fig = go.Figure()
    fig.add_vrect(x0=LR_NYQUIST, x1=0.5, fillcolor="#f4a261", opacity=0.12, line_width=0,
                  annotation_text="beyond the 32×32 input's Nyquist limit", annotation_position="top left",
                  annotation_font_size=11)
    for name, img in _spectrum_panels(job, index):
        freqs, power = radial_power_spectrum(img)
        share = high_frequency_energy(img, band=(LR_NYQUIST, 0.5))
        keep = freqs > 0.01  # the DC ring swamps the scale
        fig.add_trace(go.Scatter(
            x=freqs[keep].tolist(), y=power[keep].tolist(), mode="lines", name=f"{name} ({100 * share:.2f}% high band)",
            line=dict(color=color(job, name), width=2.5 if name in job.variants else 1.8,
                      dash="dash" if name == "bicubic" else None),
            hovertemplate=f"{name}<br>%{{x:.3f}} cycles/px<br>power %{{y:.2e}}<extra></extra>"))
    fig.update_yaxes(type="log", title_text="mean |F|² per ring (log)", exponentformat="power")
    fig.update_xaxes(title_text="radial frequency (cycles/px)", range=[0, 0.5])
    fig.update_layout(title=dict(text=f"Radial power spectrum, frame {index}", font=dict(size=14)), height=360,
                      margin=dict(l=60, r=20, t=50, b=45), legend=dict(x=0.99, y=0.99, xanchor="right",
                                                                        bgcolor="rgba(255,255,255,0.7)"),
                      font=_FONT)
    return fig


def loss_figure(job: JobResult, index: int) -> go.Figure:
    """What the focal frequency loss sees: ``|F_SR − F_GT|`` and its weight matrix, per method.

    One column per method (bicubic first: what the loss pushes on while the network
    still outputs bicubic, i.e. at the start of training), two rows: the spectral
    error (dB) and the focal weight (``|F_SR − F_GT|^α`` normalised to [0, 1], α = 1)
    that multiplies the squared error in the loss. Needs the ground truth (simulate mode).
    """
    r = job.result
    if r.gt is None:
        return _message_figure("The spectral error and the frequency loss's weights need the ground truth: "
                               "run in simulate mode.")
    cols = [("bicubic", r.bicubic[index])] + [(v, r.sr[v][index]) for v in job.variants]
    errors = [_db(spectral_error_map(img, r.gt[index], log=False)) for _, img in cols]
    weights = [ffl_weight_map(img, r.gt[index]) for _, img in cols]
    emin, emax = _color_range(errors)
    titles = [f"{name}: |F_SR − F_GT|" for name, _ in cols] + [f"{name}: focal weight" for name, _ in cols]
    fig = make_subplots(rows=2, cols=len(cols), subplot_titles=titles, horizontal_spacing=0.03,
                        vertical_spacing=0.14)
    n = r.gt.shape[1]
    last = len(cols)
    for k, (err, w) in enumerate(zip(errors, weights), start=1):
        fig.add_trace(_heat(err, n, emin, emax, "Magma", k == last, "dB", colorbar_y=0.79), row=1, col=k)
        fig.add_trace(_heat(w, n, 0.0, 1.0, "Inferno", k == last, "weight", colorbar_y=0.21), row=2, col=k)
    for row in (1, 2):
        for k in range(1, last + 1):
            axis = (row - 1) * last + k
            fig.update_xaxes(range=[-0.5, 0.5], constrain="domain", row=row, col=k)
            fig.update_yaxes(range=[-0.5, 0.5], constrain="domain", scaleanchor=f"x{axis if axis > 1 else ''}",
                             showticklabels=k == 1, row=row, col=k)
    fig.update_xaxes(title_text="fx (cycles/px)", row=2)
    fig.update_layout(title=dict(text=f"Where the frequency loss pushes, frame {index}: the error of each "
                                      "frequency (top) and the weight the loss gives it (bottom)", font=dict(size=14)),
                      height=620, margin=dict(l=50, r=20, t=80, b=45), font=_FONT)
    fig.update_annotations(font_size=12)
    return fig


def training_curves_figure(job: JobResult, curves: dict) -> go.Figure:
    """How the error above the input's Nyquist limit closed during training, per variant of the run.

    ``curves`` maps each variant to its :class:`~vfhgan_core.evaluation.spectral_curves.SpectralCurves`
    (``None`` when its weights carry none). The dashed line is bicubic on the same validation frames.
    """
    have = {v: c for v, c in curves.items() if c is not None and c.steps}
    if not have:
        names = ", ".join(curves) or "these variants"
        return _message_figure(f"No training curves with the weights of {names}: they were trained before the "
                               "trainer recorded them. Weights trained now (train/train_vfhgan.py) carry "
                               "spectral_curves.json, and this plot shows it.")
    fig = go.Figure()
    bicubic = None
    for variant, c in have.items():
        fig.add_trace(go.Scatter(
            x=c.steps, y=np.round(c.above_nyquist_db(), 3).tolist(), mode="lines+markers", name=variant,
            line=dict(color=color(job, variant), width=2.5), marker=dict(size=5),
            hovertemplate=f"{variant}<br>step %{{x}}<br>%{{y:.2f}} dB<extra></extra>"))
        bicubic = c.bicubic_above_nyquist_db() if bicubic is None else bicubic
    if bicubic is not None:
        fig.add_hline(y=bicubic, line=dict(color=FIXED_COLORS["bicubic"], dash="dash", width=1.5),
                      annotation_text="bicubic", annotation_position="top right")
    missing = [v for v in curves if v not in have]
    note = f" ({', '.join(missing)}: no curves with its weights)" if missing else ""
    fig.update_xaxes(title_text="training step")
    fig.update_yaxes(title_text="error above the input's Nyquist (dB)")
    fig.update_layout(title=dict(text="How the high-frequency gap closed during training (validation frames; "
                                      f"lower is better){note}", font=dict(size=14)), height=340,
                      margin=dict(l=60, r=20, t=50, b=45), font=_FONT,
                      legend=dict(x=0.99, y=0.99, xanchor="right", bgcolor="rgba(255,255,255,0.7)"))
    return fig


# --------------------------------------------------------------------------- metrics


def metrics_table(job: JobResult | None) -> pd.DataFrame:
    """Mean scores per method (simulate mode); an empty table (same headers) otherwise."""
    if job is None or job.scores is None:
        return pd.DataFrame(columns=TABLE_HEADERS)
    rows = []
    for name in job.methods:
        means = job.scores[name].means()
        rows.append([name] + [round(float(means[k]), d) if np.isfinite(means[k]) else None
                              for k, d in zip(_TABLE_KEYS, _TABLE_DIGITS)])
    return pd.DataFrame(rows, columns=TABLE_HEADERS)


def metrics_figure(job: JobResult, index: int | None = None) -> go.Figure:
    """Per-frame PSNR-Y, SSIM-Y and ERQA of every method over the segment, with the inspected frame marked."""
    if job.scores is None:
        return _message_figure("Per-frame metrics need the ground truth: run in simulate mode.")
    names = [(k, METRICS[k].label) for k in ("psnr_y", "ssim_y", "erqa")]
    fig = make_subplots(rows=len(names), cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        subplot_titles=[t for _, t in names])
    t = job.result.clip.timestamps - job.result.clip.timestamps[0] + job.segment.start
    for row, (key, _) in enumerate(names, start=1):
        for name in job.methods:
            values = job.scores[name].per_frame[key]
            fig.add_trace(go.Scatter(
                x=np.round(t, 3).tolist(), y=np.round(values, 4).tolist(), mode="lines", name=name,
                legendgroup=name, showlegend=row == 1,
                line=dict(color=color(job, name), width=2 if name in job.variants else 1.5,
                          dash="dash" if name == "bicubic" else None),
                hovertemplate=f"{name}<br>t %{{x:.2f}} s<br>%{{y:.4f}}<extra></extra>"), row=row, col=1)
    if index is not None and 0 <= index < len(t):
        fig.add_vline(x=float(t[index]), line=dict(color="#d62728", width=1, dash="dot"))
    fig.update_xaxes(title_text="time in the clip (s)", row=len(names), col=1)
    fig.update_layout(title=dict(text="Per-frame scores (higher is better)", font=dict(size=14)), height=520,
                      margin=dict(l=60, r=20, t=60, b=45), legend=dict(orientation="h", y=1.08, x=1, xanchor="right"),
                      font=_FONT)
    fig.update_annotations(font_size=12)
    return fig


def summary_markdown(job: JobResult) -> str:
    """One paragraph: what ran, on what, how long each stage took."""
    r = job.result
    s = job.stage_seconds
    parts = [f"{k} {s[k]:.1f} s" for k in ("load", "faces", "restore", "metrics", "encode") if k in s]
    variants = " and ".join(f"**{v}**" for v in job.variants)
    if r.self_ensemble:
        variants += " (mirror self-ensemble: each frame restored as is and mirrored, the two averaged)"
    listens = any(parse_variant(v)["audio"] for v in job.variants)
    audio = "" if r.clip.has_audio or not listens else " The clip has no audio track: the audio-conditioned variant heard silence."
    if job.mode == "real":
        mode = "real (the face taken as low-resolution, restored and pasted back)"
    elif r.degradation is not None:
        mode = (f"simulate (face degraded to 32×32 like real low-quality video: {r.degradation.describe()}; "
                "compared with the original)")
    else:
        mode = "simulate (face shrunk to 32×32 by bicubic ×4, compared with the original)"
    routes = "".join(f" {_route_sentence(name, w)}" for name, w in r.route_weights.items() if len(w))
    return (f"Restored **{r.num_frames} frames** ({job.segment.duration:.2f} s from {job.segment.start:.2f} s of "
            f"`{job.source_name}`) with {variants} in **{job.seconds:.1f} s** ({', '.join(parts)}). "
            f"Mode: {mode}.{audio}{routes}")


def _route_sentence(name: str, weights: np.ndarray) -> str:
    """What the real-world variant's router decided, e.g. '... gave 92 % of the weight to its degraded-video expert'."""
    share = float(np.mean(weights))
    verdict = ("looked degraded" if share >= 0.5 else "looked clean")
    return (f"**{name}**'s router gave its degraded-video expert {share:.0%} of the weight on average "
            f"(the input {verdict}; the rest went to its clean-video expert).")


def _message_figure(text: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=text, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper", font=dict(size=14))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(height=160, margin=dict(l=10, r=10, t=10, b=10))
    return fig
