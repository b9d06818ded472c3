"""What the frequency-loss lab tab shows for one :class:`~vfhgan_core.pipelines.frequency_lab.LabSnapshot`.

The numbers come from :mod:`vfhgan_core.pipelines.frequency_lab`; this module only lays them out: the
images side by side, the error of each radial band, the focal weight matrix, the curves over
the steps and the final table.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from vfhgan_core.metrics.spectral import bands_above
from vfhgan_core.pipelines.frequency_lab import ARMS, LabSnapshot
from vfhgan_core.pipelines.restore import label_tile

from .figures import enlarge

#: colours of the lab's curves
LAB_COLORS = {"bicubic": "#7f7f7f", ARMS[0]: "#1f77b4", ARMS[1]: "#d62728"}
BAND_TABLE_HEADERS = ["band (cycles/px)", "bicubic (dB)", f"{ARMS[0]} (dB)", f"{ARMS[1]} (dB)",
                      "FFL − pixel (dB)"]
_FONT = dict(size=12)


def lab_panels(snap: LabSnapshot, factor: int = 2, gap: int = 6) -> np.ndarray:
    """First frame side by side: LR input | bicubic | pixel | pixel + FFL | target, enlarged ×``factor``."""
    scale = snap.target.shape[0] // snap.lr.shape[0]
    tiles = [("32x32 input" if snap.lr.shape[0] == 32 else "input", np.repeat(np.repeat(snap.lr, scale, 0), scale, 1)),
             ("bicubic", snap.bicubic),
             (f"pixel ({snap.psnr_y[ARMS[0]]:.2f} dB)", snap.outputs[ARMS[0]]),
             (f"pixel+FFL ({snap.psnr_y[ARMS[1]]:.2f} dB)", snap.outputs[ARMS[1]]),
             ("target", snap.target)]
    cols = [label_tile(enlarge(img, factor), label) for label, img in tiles]
    spacer = np.full((cols[0].shape[0], gap, 3), 255, dtype=np.uint8)
    row: list[np.ndarray] = []
    for c in cols:
        row += [c, spacer]
    return np.concatenate(row[:-1], axis=1)


def _centres(snap: LabSnapshot) -> np.ndarray:
    e = snap.band_edges
    return (e[:-1] + e[1:]) / 2


def band_error_figure(snap: LabSnapshot) -> go.Figure:
    """Relative spectral error per radial band of bicubic and both networks at this step (lower is better)."""
    x = _centres(snap)
    width = float(snap.band_edges[1] - snap.band_edges[0])
    fig = go.Figure()
    fig.add_vrect(x0=snap.high_band_start, x1=0.5, fillcolor="#f4a261", opacity=0.12, line_width=0,
                  annotation_text="beyond the input's Nyquist limit", annotation_position="bottom right",
                  annotation_font_size=11)
    series = [("bicubic", snap.bicubic_band_error_db)] + [(a, snap.band_error_db[a]) for a in ARMS]
    for name, values in series:
        fig.add_trace(go.Bar(x=x.tolist(), y=[None if not np.isfinite(v) else round(float(v), 2) for v in values],
                             name=name, marker_color=LAB_COLORS[name], width=width / 3.6,
                             hovertemplate=f"{name}<br>band centre %{{x:.3f}} cycles/px<br>%{{y:.2f}} dB<extra></extra>"))
    fig.update_xaxes(title_text="radial frequency (cycles/px)", range=[0, 0.5])
    fig.update_yaxes(title_text="error energy / target energy (dB)")
    fig.update_layout(barmode="group", height=360, font=_FONT, margin=dict(l=60, r=20, t=50, b=45),
                      title=dict(text=f"Spectral error band by band, step {snap.step} of {snap.total_steps}",
                                 font=dict(size=14)),
                      legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"))
    return fig


def focal_weight_figure(snap: LabSnapshot) -> go.Figure:
    """The focal weight matrix of the FFL network at this step (DC in the centre)."""
    w = snap.focal_weights
    n = w.shape[0]
    f = np.fft.fftshift(np.fft.fftfreq(n))   # cycles per pixel, whatever the patch size
    fig = go.Figure(go.Heatmap(z=np.round(w, 2).tolist(), x=f.tolist(), y=f.tolist(), zmin=0.0, zmax=1.0,
                               colorscale="Inferno", colorbar=dict(title=dict(text="weight", side="right"), thickness=10),
                               hovertemplate="fx %{x:.3f}, fy %{y:.3f}<br>weight %{z:.2f}<extra></extra>"))
    nyq = snap.high_band_start
    fig.add_shape(type="rect", x0=-nyq, y0=-nyq, x1=nyq, y1=nyq, line=dict(color="white", dash="dot", width=1))
    lim = float(np.abs(f).max())
    fig.update_xaxes(title_text="fx (cycles/px)", range=[-lim, lim], constrain="domain")
    fig.update_yaxes(title_text="fy (cycles/px)", range=[-lim, lim], constrain="domain", scaleanchor="x")
    patch = "" if snap.config.patch_factor == 1 else f", top-left patch of {snap.config.patch_factor}×{snap.config.patch_factor}"
    fig.update_layout(height=380, font=_FONT, margin=dict(l=60, r=20, t=60, b=45),
                      title=dict(text=f"Focal weights of the FFL network, step {snap.step}{patch}<br>"
                                      "<sup>1 = the frequency it gets most wrong now; dotted: the input's Nyquist limit</sup>",
                                 font=dict(size=14)))
    return fig


def curves_figure(snap: LabSnapshot) -> go.Figure:
    """PSNR-Y, pixel MSE and the error above the input's Nyquist limit over the steps, both networks."""
    h = snap.history
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.08,
                        subplot_titles=["PSNR-Y (dB, higher is better)", "pixel MSE (log)",
                                        "error above the input's Nyquist (dB)"])
    for arm in ARMS:
        style = dict(color=LAB_COLORS[arm], width=2)
        fig.add_trace(go.Scatter(x=h.steps, y=np.round(h.psnr_y[arm], 3).tolist(), name=arm, legendgroup=arm,
                                 line=style), row=1, col=1)
        fig.add_trace(go.Scatter(x=h.steps, y=h.pixel_loss[arm], name=arm, legendgroup=arm, showlegend=False,
                                 line=style), row=1, col=2)
        fig.add_trace(go.Scatter(x=h.steps, y=np.round(h.high_band_error_db[arm], 3).tolist(), name=arm,
                                 legendgroup=arm, showlegend=False, line=style), row=1, col=3)
    for col, level in ((1, snap.bicubic_psnr_y), (3, snap.bicubic_high_band_error_db)):
        if np.isfinite(level):
            fig.add_hline(y=level, line=dict(color=LAB_COLORS["bicubic"], dash="dash", width=1), row=1, col=col)
    fig.update_yaxes(type="log", exponentformat="power", row=1, col=2)
    fig.update_xaxes(title_text="step", range=[0, snap.total_steps])
    fig.update_layout(height=350, font=_FONT, margin=dict(l=55, r=20, t=80, b=45),
                      legend=dict(orientation="h", y=1.22, x=0, xanchor="left"))
    fig.update_annotations(font_size=12)
    return fig


def band_table(snap: LabSnapshot) -> pd.DataFrame:
    """One row per band: bicubic's, each network's error and the FFL network's difference (negative: FFL better)."""
    rows = []
    e = snap.band_edges
    high = bands_above(e, snap.high_band_start)
    for k in range(len(e) - 1):
        pix, ffl = snap.band_error_db[ARMS[0]][k], snap.band_error_db[ARMS[1]][k]
        above = " ▲" if high[k] else ""
        rows.append([f"{e[k]:.4f}–{e[k + 1]:.4f}{above}", _r(snap.bicubic_band_error_db[k]), _r(pix), _r(ffl),
                     _r(ffl - pix)])
    pix, ffl = snap.high_band_error_db(ARMS[0]), snap.high_band_error_db(ARMS[1])
    rows.append([f"above Nyquist (≥ {snap.high_band_start:g}) ▲", _r(snap.bicubic_high_band_error_db), _r(pix),
                 _r(ffl), _r(ffl - pix)])
    return pd.DataFrame(rows, columns=BAND_TABLE_HEADERS)


def _r(value: float) -> float | None:
    return round(float(value), 2) if np.isfinite(value) else None


def lab_status(snap: LabSnapshot) -> str:
    """One line: progress, time, and at the end which network is ahead above the input's Nyquist limit."""
    head = (f"**Step {snap.step} / {snap.total_steps}** · {snap.seconds:.1f} s · {snap.frames} frame"
            f"{'s' if snap.frames > 1 else ''} · PSNR-Y pixel {snap.psnr_y[ARMS[0]]:.2f} dB, "
            f"pixel + FFL {snap.psnr_y[ARMS[1]]:.2f} dB (bicubic {snap.bicubic_psnr_y:.2f} dB)")
    if not snap.done:
        return head + " · training…"
    diff = snap.high_band_error_db(ARMS[1]) - snap.high_band_error_db(ARMS[0])
    verdict = ("the FFL network is ahead" if diff < -0.05 else "the pixel-only network is ahead" if diff > 0.05
               else "the two networks are level")
    return (head + f" · **done**. Above the input's Nyquist limit {verdict}: {diff:+.2f} dB (FFL − pixel; "
            "negative means FFL got the fine detail closer).")
