"""The page: inputs and switches, the videos and metrics, the frame inspector, the frequency view.

:func:`build_demo` lays out the Gradio Blocks and wires the events to
:class:`~app.callbacks.AppCallbacks`. The main action is also the public API
``/restore`` (see the README for a ``gradio_client`` example).
"""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from vfhgan_core.weights.variants import DEFAULT_VARIANT, parse_variant

from .callbacks import NO_COMPARE, AppCallbacks
from .settings import AppSettings

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"
EXAMPLES = ASSETS / "examples"
ARCHITECTURE = ASSETS / "architecture.svg"
PAPER_URL = "https://arxiv.org/abs/2211.10883"
FFL_URL = "https://arxiv.org/abs/2012.12821"

CSS = """
.pixelated img, .pixelated canvas { image-rendering: pixelated; image-rendering: crisp-edges; }
.architecture svg { width: 100%; height: auto; max-width: 1180px; }
#run-button { min-height: 48px; }
"""

INTRO = f"""
# VFH-GAN: restoring a 32×32 talking face with its speech

A face crop is shrunk to **32×32** pixels and the network brings it back to **128×128** (×4), looking at
five neighbouring frames *and listening to the speech* (the 0.2 s of audio around each frame).
Flip the switches to pick a trained variant: with or without the audio branch, trained with or without
the **frequency loss** (which pushes on the fine detail bicubic upsampling cannot recover) and the
**lip-reading loss** (which judges the mouth through a lip reader's eyes). Then look at what changed:
frame by frame, in the mouth, and in the Fourier spectrum. Paper: [Sharma et al., 2022]({PAPER_URL}).
"""

HOW_IT_WORKS = f"""
**Generator.** Five consecutive low-resolution frames (32×32, frame *t* in the middle) are stacked and go
through a primary convolution and the **PHFE-B** branch: blocks of parallel 1×1, 3×3, 5×5 and 7×7 filters with
depthwise channel attention at 32×32, a pixel shuffle to 64×64, and heads that predict what to *add* to
the bicubic upsampling (an untrained network therefore returns exactly bicubic). The **CMFE-B** branch
encodes the same primary features (ξ) and the log-mel window of the speech (ψ), fuses them (Ψ), and lets
axial self-attention relate every position of the face to the sound before adding the result back.
Switching *audio conditioning* off removes CMFE-B altogether.

**Losses (training only).** Besides pixel, perceptual and adversarial terms, the **focal frequency loss**
([Jiang et al., 2021]({FFL_URL})) compares the 2-D Fourier transforms of the restored and true faces and
weights each frequency by how wrong it is, so the hard high frequencies are not left for last. The
*Frequency view* tab shows exactly that weight matrix for the selected frame. The **lip-reading loss**
compares a frozen lip reader's feature maps of the restored and true mouths.

**What the shipped variants show.** The focal frequency loss alone, at the weight the variants were first
trained with, made the high band *weaker*: comparing two spectra as complex numbers is a pixel loss in
disguise, and it averages away the detail the network is unsure of. So the frequency switch now also turns on a
**radial spectrum loss**, which asks only for the right *amount* of detail in each ring of the spectrum and
leaves its phase free. With it, the *frequency loss* variants put back more fine detail and their spectrum
above what 32×32 can hold is about 0.4–0.6 dB closer to the truth, on faces no variant trained on,
for 0.03–0.1 dB of PSNR. Compare `audio-ffl-nolip` with `audio-noffl-nolip` in the *Frequency view*. The
**lip-reading loss** keeps the mouth faithful while the adversarial terms sharpen the face: the lip variants'
mouths are about 0.15–0.3 dB (mouth PSNR-Y) closer to the true mouth on new GRID and VoxCeleb2 faces than their
twins' mouths, which drift. Compare `audio-ffl-lip` with `audio-ffl-nolip` in the mouth zooms and the
per-frame scores. The audio variants start from the no-audio ones' weights and train as long, but do not
yet use what the speech says: silence gives the same faces. Flipping *audio* shows what the extra branch
does without it: on new faces about 0.04–0.08 dB lower PSNR and a touch more sharpness, not the speech
(measurements: `train/README.md` §7–§16).

**Modes.** *Simulate*: the face found in your video is the ground truth; it is degraded to 32×32 and
restored, so the result can be scored (PSNR-Y, SSIM-Y, ERQA). The degradation is clean bicubic shrinking,
or, with *degraded* input, one random draw of blur, noise and JPEG or H.264 compression like real poor
video. *Real*: the face in your video is taken as genuinely low-resolution; it is restored and pasted back
into the (upscaled) full frame; there is nothing to score against.

**Mirror self-ensemble.** With the box ticked, every frame is restored twice, as it is and mirrored left to
right, and the two results (the second mirrored back) are averaged. Where the two passes disagree they were
guessing, and averaging cancels part of that: on faces no variant trained on the result is 0.1–0.35 dB closer
to the original (PSNR-Y) and flickers less, but it is a little smoother, with slightly less fine detail, and
takes twice as long. It is a choice at restoration time, not a trained variant, and works with every variant.

**Trained on degraded video.** `audio-ffl-lip-real` holds two experts and a small router. One expert was
fine-tuned on such degraded inputs; alone it scores about 1 dB higher PSNR-Y than the clean-trained model on
degraded faces nobody trained on (that model only sharpens the artefacts), but about 3 dB lower on clean faces,
whose detail it smooths as if it were noise. The other expert is the clean-trained `audio-ffl-lip`. For every
frame the router looks at the fine texture of the small input (noise, compression blocks, missing detail) and
weighs the two; the summary under the results says how it chose. Try a clean and a degraded simulated input
and compare with `audio-ffl-lip`.

Paper: S. Sharma, A. Dhall, V. Kumar, V. S. Bawa, *Audio-visual video face hallucination with frequency
supervision and cross modality support by speech based lip reading loss*, 2022
([arXiv:2211.10883]({PAPER_URL})). This implementation, its code and its trained weights are our own.
"""


LAB_DEFAULT_STEPS = 1000
LAB_INTRO = f"""
**Watch a frequency loss at work.** The lab takes the face at the chosen time of your clip, shrinks it to
32×32 exactly as in training, and trains **two copies of one small network** (a 35 k-parameter residual ESPCN:
four convolutions and a pixel shuffle added to bicubic upsampling) to bring it back to 128×128, side by side on
this server's CPU: one with the **pixel loss** alone (mean squared error), one with the pixel loss **plus the
focal frequency loss** ([Jiang et al., 2021]({FFL_URL}), the paper's eq. 6–10). Both start from the same weights,
see the same data and use the same optimiser, so every difference between them is the work of the focal loss.

*Why this set-up:* because the Fourier transform keeps energy (Parseval), an unweighted frequency loss would be
exactly the pixel MSE; what the focal loss adds is its **weight matrix**, which puts weight 1 on the frequency the
network currently gets most wrong and less on the rest. Networks learn **low frequencies first** (spectral bias):
watch the band errors fall from the left, and the bands beyond the input's Nyquist limit (shaded, ▲), where
bicubic knows nothing, come last. The weight map shows, step by step, where the focal loss pushes; the table says
at the end which network got the fine detail closer. The defaults (α = 1, β = 1, no log matrix, one patch) are
the focal frequency loss paper's; a run of {LAB_DEFAULT_STEPS} steps takes about 15–20 s on 2 cores.
"""


def example_clips() -> list[list[str]]:
    """The bundled example clips (``assets/examples/*.mp4``), sorted."""
    return [[str(p)] for p in sorted(EXAMPLES.glob("*.mp4"))]


def _architecture_html() -> str:
    try:
        svg = ARCHITECTURE.read_text(encoding="utf-8")
    except OSError:
        return "<p>(architecture figure missing: assets/architecture.svg)</p>"
    return f'<div class="architecture">{svg}</div>'


def build_demo(settings: AppSettings | None = None, callbacks: AppCallbacks | None = None) -> gr.Blocks:
    """The Gradio Blocks of the app (not launched)."""
    settings = settings or AppSettings()
    cb = callbacks or AppCallbacks(settings)
    default = parse_variant(DEFAULT_VARIANT)
    minutes = settings.cache_minutes * 60

    with gr.Blocks(title="VFH-GAN: audio-visual face restoration", analytics_enabled=False,
                   delete_cache=(minutes, minutes)) as demo:
        job = gr.State(None)
        gr.Markdown(INTRO)

        with gr.Row(equal_height=False):
            with gr.Column(scale=5):
                video_in = gr.Video(label="Input video (upload or record)", sources=["upload", "webcam"],
                                    include_audio=True, height=300, elem_id="input-video")
                clip_info = gr.Markdown("Upload a talking-face video, record one with the webcam, "
                                        "or pick an example below.")
                with gr.Row():
                    start = gr.Slider(0.0, 60.0, value=0.0, step=0.04, label="Start (s)")
                    length = gr.Slider(0.2, settings.max_seconds, value=settings.proposed_seconds, step=0.04,
                                       label=f"Length (s, at most {settings.max_seconds:g})")
                gr.Examples(example_clips(), inputs=[video_in], label="Example clips (GRID and VoxCeleb2, CC BY 4.0)",
                            examples_per_page=8)
            with gr.Column(scale=4):
                gr.Markdown("### Which trained model")
                with gr.Row():
                    audio_cb = gr.Checkbox(value=default["audio"], label="Audio conditioning",
                                           info="listen to the speech (CMFE-B)", elem_id="switch-audio")
                    ffl_cb = gr.Checkbox(value=default["frequency_loss"], label="Frequency loss",
                                         info="trained with the focal frequency and radial spectrum losses", elem_id="switch-ffl")
                    lip_cb = gr.Checkbox(value=default["lip_loss"], label="Lip-reading loss",
                                         info="trained with the lip-reading loss", elem_id="switch-lip")
                real_cb = gr.Checkbox(value=False, label="Trained on degraded video (real-world)",
                                      info="for blurred, noisy or compressed faces: a router picks its degraded- or "
                                           "clean-video expert per frame; real mode turns it on", elem_id="switch-real")
                weights_md = gr.Markdown(cb.on_switches(default["audio"], default["frequency_loss"],
                                                        default["lip_loss"]), elem_id="weights-status")
                compare_dd = gr.Dropdown(cb.variant_choices(), value=NO_COMPARE, label="Compare with",
                                         info="a second variant, shown beside the first everywhere",
                                         elem_id="compare-with")
                mode = gr.Radio([("simulate: shrink the face to 32×32, restore, compare with the original",
                                  "simulate"),
                                 ("real: the face is genuinely low-res; restore and paste back into the frame",
                                  "real")], value="simulate", label="Mode", elem_id="mode")
                with gr.Row(visible=True) as simulated_row:
                    simulated = gr.Radio([("clean: bicubic ×4, what the clean variants trained on", "clean"),
                                          ("degraded: blur, noise, JPEG or H.264, like real low-quality video",
                                           "degraded")],
                                         value="clean", label="Simulated input", scale=3, elem_id="simulated-input")
                    seed = gr.Number(0, precision=0, minimum=0, label="Draw", scale=1, elem_id="degradation-seed",
                                     info="which random degradation")
                ensemble_cb = gr.Checkbox(value=False, label="Mirror self-ensemble",
                                          info="also restore each frame mirrored and average the two: closer to "
                                               "the original (+0.1 to +0.35 dB PSNR-Y on unseen faces), a little "
                                               "smoother, twice the time", elem_id="self-ensemble")
                with gr.Row():
                    run_btn = gr.Button("Restore", variant="primary", elem_id="run-button", scale=3)
                    cancel_btn = gr.Button("Cancel", variant="stop", scale=1, elem_id="cancel-button")

        summary = gr.Markdown("", elem_id="summary")
        with gr.Row(equal_height=False):
            restored_out = gr.Video(label="Restored video", buttons=["download"],
                                    height=320, elem_id="restored-video", interactive=False)
            comparison_out = gr.Video(label="Comparison video",
                                      buttons=["download"], height=320, elem_id="comparison-video",
                                      interactive=False)
        metrics_df = gr.Dataframe(headers=None, label="Metrics", interactive=False, elem_id="metrics-table")

        with gr.Tabs():
            with gr.Tab("Frame inspector", id="inspector"):
                frame = gr.Slider(0, 1, value=0, step=1, label="Frame", interactive=False, elem_id="frame-slider")
                gr.Markdown("**This frame, side by side**: the 32×32 input (each pixel drawn as a 4×4 block), "
                            "bicubic upsampling, each variant, and the ground truth (simulate mode).")
                side_by_side = gr.Image(show_label=False, format="png", interactive=False, elem_classes=["pixelated"],
                                        buttons=["download", "fullscreen"], elem_id="side-by-side")
                with gr.Row(equal_height=False):
                    with gr.Column(scale=2):
                        gr.Markdown("**Before / after**: drag the handle across the face.")
                        with gr.Row():
                            before_dd = gr.Dropdown(["bicubic"], value="bicubic", label="Before (left)")
                            after_dd = gr.Dropdown([DEFAULT_VARIANT], value=DEFAULT_VARIANT,
                                                   label="After (right)")
                        slider_img = gr.ImageSlider(show_label=False, format="png", interactive=False,
                                                    elem_classes=["pixelated"], max_height=420,
                                                    elem_id="before-after")
                    with gr.Column(scale=3):
                        gr.Markdown("**The mouth, pixel by pixel**: the same region cut from every panel and "
                                    "enlarged without smoothing, so you see the pixels each method produced.")
                        mouths = gr.Image(show_label=False, format="png", interactive=False,
                                          elem_classes=["pixelated"], elem_id="mouth-zooms",
                                          buttons=["download", "fullscreen"])
            with gr.Tab("Frequency view", id="frequency"):
                gr.Markdown(
                    "The 2-D spectrum of each restored frame, how its power falls off with frequency, and what "
                    "the focal frequency loss would push on. Bicubic upsampling has almost nothing beyond the "
                    "32×32 input's Nyquist limit (shaded); detail the network restores shows up there.")
                spectra_plot = gr.Plot(label="2-D log-magnitude spectra", elem_id="spectra-plot")
                radial_plot = gr.Plot(label="Radial power spectrum", elem_id="radial-plot")
                loss_plot = gr.Plot(label="Spectral error and focal frequency weights", elem_id="loss-plot")
                train_curves_plot = gr.Plot(label="During training", elem_id="train-curves-plot")
            with gr.Tab("Frequency-loss lab", id="lab"):
                gr.Markdown(LAB_INTRO)
                with gr.Row(equal_height=False):
                    lab_at = gr.Slider(0.0, 60.0, value=1.0, step=0.04, label="Frame time (s)",
                                       info="the lab trains on the face at this time of the clip", elem_id="lab-at")
                    lab_frames = gr.Slider(1, 8, value=1, step=1, label="Frames", info="consecutive frames",
                                           elem_id="lab-frames")
                    lab_steps = gr.Slider(100, 6000, value=LAB_DEFAULT_STEPS, step=100, label="Training steps",
                                          info="of each network", elem_id="lab-steps")
                with gr.Row(equal_height=False):
                    lab_alpha = gr.Slider(0.0, 3.0, value=1.0, step=0.1, label="α (focal exponent)",
                                          info="weight = |F̂ − F|^α, normalised", elem_id="lab-alpha")
                    lab_beta = gr.Number(value=1.0, minimum=0.0, maximum=1000.0, label="β (frequency-loss weight)",
                                         info="pixel + FFL network: MSE + β·FFL", elem_id="lab-beta")
                    lab_log = gr.Checkbox(value=False, label="Log matrix", info="log(w + 1) before normalising",
                                          elem_id="lab-log")
                    lab_patch = gr.Radio(["1", "2", "4", "8"], value="1", label="Patch factor",
                                         info="spectra per p×p patch", elem_id="lab-patch")
                with gr.Row():
                    lab_btn = gr.Button("Train both networks", variant="primary", elem_id="lab-run", scale=3)
                    lab_cancel = gr.Button("Stop", variant="stop", elem_id="lab-cancel", scale=1)
                lab_status = gr.Markdown("", elem_id="lab-status")
                lab_images = gr.Image(show_label=False, format="png", interactive=False, elem_classes=["pixelated"],
                                      buttons=["download", "fullscreen"], elem_id="lab-images")
                with gr.Row(equal_height=False):
                    lab_bands = gr.Plot(label="Spectral error per band", elem_id="lab-bands")
                    lab_weights = gr.Plot(label="Focal weights", elem_id="lab-weights")
                lab_curves = gr.Plot(label="Curves over the steps", elem_id="lab-curves")
                lab_table = gr.Dataframe(label="Spectral error per band at the last step (dB, lower is better; "
                                               "▲ above the input's Nyquist limit)", interactive=False,
                                         elem_id="lab-table")
                with gr.Accordion("All figures as JSON (also the ffl_lab API)", open=False):
                    lab_json = gr.JSON(show_label=False, elem_id="lab-json")
                lab_api_btn = gr.Button("ffl_lab", visible=False)
            with gr.Tab("Metrics per frame", id="metrics"):
                metrics_plot = gr.Plot(label="PSNR-Y, SSIM-Y, ERQA per frame", elem_id="metrics-plot")
            with gr.Tab("How it works", id="how"):
                gr.HTML(_architecture_html(), js_on_load=None)
                gr.Markdown(HOW_IT_WORKS)

        # ---------------------------------------------------------------- events
        probe_args = dict(inputs=[video_in], outputs=[start, length, clip_info], api_visibility="private",
                          show_progress="minimal")
        video_in.change(cb.on_video, **probe_args).then(cb.lab_time_range, [video_in, lab_at], [lab_at],
                                                        api_visibility="private", show_progress="hidden")
        for box in (audio_cb, ffl_cb, lip_cb, real_cb):
            box.change(cb.on_switches, [audio_cb, ffl_cb, lip_cb, real_cb], [weights_md], api_visibility="private",
                       show_progress="hidden")
        for choice in (mode, simulated):
            choice.input(cb.on_mode, [mode, simulated], [real_cb, simulated_row], api_visibility="private",
                         show_progress="hidden")

        run = run_btn.click(
            cb.restore,
            inputs=[video_in, audio_cb, ffl_cb, lip_cb, mode, start, length, compare_dd, real_cb, simulated, seed,
                    ensemble_cb],
            outputs=[restored_out, comparison_out, metrics_df, job],
            api_name="restore",
            api_description="Restore the face in a video with the trained VFH-GAN variant picked by the "
                            "switches (audio, frequency loss, lip loss, trained on degraded video). Returns the restored video, the side-by-side comparison video and the "
                            "metrics table (PSNR-Y, SSIM-Y, ERQA per method; simulate mode only).",
            concurrency_limit=settings.concurrency,
            concurrency_id="restore",
        )
        inspector_outputs = [side_by_side, slider_img, mouths, spectra_plot, radial_plot, loss_plot, metrics_plot]
        run.success(cb.show_results, [job, before_dd, after_dd],
                    [summary, train_curves_plot, frame, before_dd, after_dd, *inspector_outputs], api_visibility="private",
                    show_progress="hidden")
        cancel_btn.click(cb.cancel, None, [summary], cancels=[run], queue=False, api_visibility="private")
        frame.input(cb.inspect, [job, frame, before_dd, after_dd], inspector_outputs, api_visibility="private",
                      trigger_mode="always_last", show_progress="minimal", concurrency_limit=4,
                      concurrency_id="inspect")
        for dd in (before_dd, after_dd):
            dd.input(cb.swap_panels, [job, frame, before_dd, after_dd], [slider_img], api_visibility="private",
                     show_progress="hidden", concurrency_limit=4, concurrency_id="inspect")

        # the lab has its own queue: a lab run never holds up a restoration, nor the other way round
        lab_inputs = [video_in, lab_at, lab_frames, lab_steps, lab_alpha, lab_beta, lab_log, lab_patch]
        lab_btn.click(cb.run_lab, lab_inputs,
                      [lab_status, lab_images, lab_bands, lab_weights, lab_curves, lab_table, lab_json],
                      api_visibility="private", concurrency_limit=settings.concurrency, concurrency_id="lab",
                      show_progress="minimal")
        lab_cancel.click(cb.cancel_lab, None, [lab_status], queue=False, api_visibility="private")
        lab_api_btn.click(cb.ffl_lab, lab_inputs, [lab_json], api_name="ffl_lab",
                          api_description="Train two small networks on the face at a time of the video, one with "
                                          "the pixel loss alone and one with pixel + focal frequency loss, and return "
                                          "their spectral error per radial band, PSNR-Y and curves as JSON.",
                          concurrency_limit=settings.concurrency, concurrency_id="lab")
        demo.unload(cb.unload)

    demo.queue(default_concurrency_limit=settings.concurrency, max_size=settings.queue_size)
    return demo


def launch_kwargs(settings: AppSettings) -> dict:
    """Arguments of ``demo.launch`` for these settings."""
    return dict(
        server_name=settings.host,
        server_port=settings.port,
        show_error=True,
        max_file_size=settings.max_upload_mb * 1024 * 1024,
        allowed_paths=[str(EXAMPLES)],
        theme=gr.themes.Soft(),
        css=CSS,
        footer_links=["api", "gradio"],
    )
