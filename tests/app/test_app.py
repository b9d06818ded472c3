"""The Gradio app, driven through ``gradio_client`` against ``python app.py``, and its parts in-process.

The server runs offline on 127.0.0.1 with two test variants (see ``app_fixtures``):
``audio-ffl-lip`` (perturbed head, differs from bicubic) and ``noaudio-noffl-nolip``
(untrained, exactly bicubic). Real clips, the real detector, real decoding and encoding.
"""
from __future__ import annotations

import re
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from app_fixtures import MISSING, PERTURBED, PLAIN, AppServer, make_test_weights
from media_fixtures import truncate_copy, zero_frame_mkv
from vfhgan_core.io import probe_video, read_audio, read_video, write_video

EXAMPLES = Path(__file__).resolve().parents[2] / "assets" / "examples"
GRID_A = EXAMPLES / "grid_s1_bbaf2n.mp4"
GRID_B = EXAMPLES / "grid_s1_sbia1s.mp4"
VOX_LONG = EXAMPLES / "voxceleb2_Audio_Source_741400104.mp4"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_test_weights(tmp_path_factory.mktemp("weights"))


@pytest.fixture(scope="module")
def server(weights: Path, detector_model: Path, tmp_path_factory: pytest.TempPathFactory):
    # uploads are limited to 1 MB here (the examples are 0.1-0.4 MB) to test the limit
    srv = AppServer(weights, detector_model, tmp_path_factory.mktemp("app") / "app.log", "--max-upload-mb", "1").start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def client(server: AppServer) -> Client:
    return Client(server.url, verbose=False)


def restore(client: Client, video: Path, audio=True, ffl=True, lip=True, mode="simulate", start=0.0,
            length=3.0, compare="none", *extra):
    """The ``/restore`` endpoint; ``extra``: real_world, simulated_input, degradation_seed, self_ensemble
    (defaults if left out)."""
    return client.predict(handle_file(str(video)), audio, ffl, lip, mode, start, length, compare, *extra,
                          api_name="/restore")


def table(metrics: dict) -> dict[str, dict[str, float]]:
    """The API's metrics output as {method: {column: value}}."""
    headers = metrics["headers"]
    return {row[0]: dict(zip(headers[1:], row[1:])) for row in metrics["data"]}


def audio_match(a: np.ndarray, b: np.ndarray) -> float:
    n = min(len(a), len(b))
    return float(np.corrcoef(a[:n], b[:n])[0, 1])


# --------------------------------------------------------------------------- start-up and API


def test_starts_offline_on_localhost_only(server: AppServer) -> None:
    # started with HF_HUB_OFFLINE=1 and no network: the page answers within seconds
    print(f"app.py ready after {server.startup_seconds:.1f} s")
    assert server.startup_seconds < 45
    assert f"Running on local URL:  http://127.0.0.1:{server.port}" in server.log_text()
    # bound to the loopback interface only: another address of this machine refuses the connection
    other = [ip for ip in socket.gethostbyname_ex(socket.gethostname())[2] if not ip.startswith("127.")]
    for ip in other[:1]:
        with pytest.raises(OSError):
            socket.create_connection((ip, server.port), timeout=2).close()


def test_restore_is_a_documented_api(client: Client) -> None:
    api = client.view_api(print_info=False, return_format="dict")
    endpoint = api["named_endpoints"]["/restore"]
    names = [p["parameter_name"] for p in endpoint["parameters"]]
    assert names == ["video", "audio_conditioning", "frequency_loss", "lip_loss", "mode", "start", "length",
                     "compare_with", "real_world", "simulated_input", "degradation_seed", "self_ensemble"]
    assert [p["parameter_has_default"] for p in endpoint["parameters"]] == [False] + [True] * 11
    assert [r["label"] for r in endpoint["returns"]] == ["Restored video", "Comparison video", "Metrics"]
    # the inspector's helpers are not part of the public API
    assert list(api["named_endpoints"]) == ["/restore", "/ffl_lab"]


# --------------------------------------------------------------------------- real clips through every output


@pytest.mark.slow
def test_simulate_with_two_variants_fills_every_output(client: Client) -> None:
    restored, comparison, metrics = restore(client, GRID_A, length=2.0, compare=PLAIN)
    # restored face video: 128x128, the 2 s segment, with the clip's own speech
    info = probe_video(restored)
    assert (info.width, info.height) == (128, 128) and info.frame_count == 50
    assert info.audio is not None and info.audio.duration == pytest.approx(2.0, abs=0.1)
    assert audio_match(read_audio(restored), read_audio(GRID_A, duration=2.0)) > 0.9
    # comparison: LR | bicubic | audio-ffl-lip | noaudio-noffl-nolip | ground truth
    cinfo = probe_video(comparison)
    assert (cinfo.width, cinfo.height) == (128 * 5, 128) and cinfo.frame_count == 50 and cinfo.audio is not None
    face, side = read_video(restored).frames.astype(int), read_video(comparison).frames.astype(int)
    col = {name: side[:, :, 128 * k:128 * (k + 1)] for k, name in enumerate(["lr", "bicubic", PERTURBED, PLAIN, "gt"])}
    below_label = slice(24, 128)  # the top band of each tile carries its label
    # the restored video is the first variant's column; the untrained variant equals bicubic
    assert np.abs(face[:, below_label] - col[PERTURBED][:, below_label]).mean() < 3
    assert np.abs(col[PLAIN][:, below_label] - col["bicubic"][:, below_label]).mean() < 2
    assert np.abs(col[PERTURBED][:, below_label] - col["bicubic"][:, below_label]).mean() > 3
    # metrics: one row per method, plausible numbers; untrained == bicubic, perturbed worse
    rows = table(metrics)
    assert list(rows) == ["bicubic", PERTURBED, PLAIN]
    for values in rows.values():
        assert 15 < values["PSNR-Y (dB)"] < 60 and 0 < values["SSIM-Y"] <= 1 and 0 <= values["ERQA v1.0"] <= 1
    assert rows[PLAIN] == rows["bicubic"]
    assert rows[PERTURBED]["PSNR-Y (dB)"] < rows["bicubic"]["PSNR-Y (dB)"] - 0.5


@pytest.mark.slow
def test_simulate_can_degrade_the_input_like_real_video(client: Client) -> None:
    *_, clean = restore(client, GRID_A, False, False, False, "simulate", 0.0, 1.0, "none", False, "clean", 0)
    *_, degraded = restore(client, GRID_A, False, False, False, "simulate", 0.0, 1.0, "none", False, "degraded", 4)
    *_, again = restore(client, GRID_A, False, False, False, "simulate", 0.0, 1.0, "none", False, "degraded", 4)
    # blurred, noisy, compressed input: bicubic from it is further from the original; one draw, reproducible
    assert table(degraded)["bicubic"]["PSNR-Y (dB)"] < table(clean)["bicubic"]["PSNR-Y (dB)"] - 1.0
    assert table(again) == table(degraded)
    # the real-world switch picks the '-real' variant: this server has none, and says so
    with pytest.raises(AppError, match="audio-ffl-lip-real"):
        restore(client, GRID_A, True, True, True, "simulate", 0.0, 1.0, "none", True, "degraded", 4)
    with pytest.raises(AppError, match="degradation draw must|less than minimum"):
        restore(client, GRID_A, False, False, False, "simulate", 0.0, 1.0, "none", False, "degraded", -3)


@pytest.mark.slow
def test_real_mode_pastes_into_the_full_frame(client: Client) -> None:
    restored, comparison, metrics = restore(client, VOX_LONG, audio=False, ffl=False, lip=False, mode="real",
                                            start=4.0, length=1.0)
    info = probe_video(restored)
    # the whole 224x224 frame, upscaled so the face lands at its restored size, 1 s, with sound
    assert info.width == info.height and 224 <= info.width <= 4 * 224 and info.frame_count == 25
    assert info.audio is not None
    src = read_audio(VOX_LONG, start=4.0, duration=1.0)
    assert audio_match(read_audio(restored), src) > 0.9
    # no ground truth: LR | bicubic | variant, and no scores
    assert probe_video(comparison).width == 128 * 3
    assert metrics["data"] == [] and metrics["headers"][:2] == ["method", "PSNR-Y (dB)"]


# --------------------------------------------------------------------------- bad input


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bad")
    text = d / "notes.mp4"
    text.write_text("this is not a video\n")
    clip = read_video(GRID_A)
    faceless = write_video(d / "background.mp4", clip.frames[:, :96, :96], 25, audio=read_audio(GRID_A))
    return {
        "text": text,
        "truncated": truncate_copy(GRID_A, d / "truncated.mp4", 0.02),
        "empty": zero_frame_mkv(d / "empty.mkv"),
        "audio_only": data_dir / "voxceleb2" / "Audio_Source_681600002.mp3",
        "faceless": faceless,
    }


@pytest.mark.parametrize("case, expected", [
    ("text", r"is not a video"),
    ("truncated", r"(damaged|truncated|corrupt|no frame|not a video)"),
    ("empty", r"(no frames|empty|no video frame|holds no)"),
    ("audio_only", r"(not a video|audio)"),
    ("faceless", r"face"),
])
def test_bad_files_get_readable_errors(client: Client, server: AppServer, bad_inputs, case: str,
                                       expected: str) -> None:
    with pytest.raises(AppError) as info:
        restore(client, bad_inputs[case], length=1.0)
    message = str(info.value)
    assert re.search(expected, message, re.IGNORECASE), message
    assert "Traceback" not in message and "File \"" not in message
    assert server.alive


def test_uploads_over_the_size_limit_are_refused_with_the_limit(client: Client, server: AppServer,
                                                              data_dir: Path) -> None:
    import httpx

    big = data_dir / "hdtf" / "RD_Radio2_000.mp4"  # 3.4 MB
    assert big.stat().st_size > 1024 * 1024
    with open(big, "rb") as f:
        r = httpx.post(server.url + "gradio_api/upload", files={"files": ("big.mp4", f, "video/mp4")}, timeout=30)
    assert r.status_code == 413 and "maximum allowed size of 1048576 bytes" in r.text
    # gradio_client reads the advertised limit and refuses before sending
    with pytest.raises(ValueError, match="exceeds the maximum file size"):
        restore(client, big, length=1.0)
    assert server.alive


def test_bad_settings_get_readable_errors(client: Client, server: AppServer) -> None:
    with pytest.raises(AppError, match=rf"No trained weights for '{MISSING}'.*Variants with weights: {PERTURBED}"):
        restore(client, GRID_A, audio=True, ffl=False, lip=False, length=1.0)
    with pytest.raises(AppError, match=r"after the end of the clip \(3\.00 s\)"):
        restore(client, GRID_A, start=5.0, length=1.0)
    # out-of-range values are refused by the components' own checks, with the limit in the message
    with pytest.raises(AppError, match=r"(greater than maximum value 10|longer than this server's limit of 10 s)"):
        restore(client, GRID_A, length=30.0)
    with pytest.raises(AppError, match=r"(not in the list of choices|Mode must be one of)"):
        restore(client, GRID_A, mode="dream", length=1.0)
    # the server keeps serving: a good request right after works
    assert server.alive
    *_, metrics = restore(client, GRID_A, audio=False, ffl=False, lip=False, length=0.4)
    assert list(table(metrics)) == ["bicubic", PLAIN]


# --------------------------------------------------------------------------- several users, cancel


@pytest.mark.slow
def test_two_users_at_once_get_their_own_results(server: AppServer) -> None:
    jobs = {
        "a": dict(video=GRID_A, audio=True, ffl=True, lip=True, length=2.0),
        "b": dict(video=GRID_B, audio=False, ffl=False, lip=False, length=3.0),
    }
    results: dict[str, tuple] = {}
    errors: list[BaseException] = []
    started: dict[str, float] = {}
    finished: dict[str, float] = {}

    def user(name: str) -> None:
        try:
            c = Client(server.url, verbose=False)  # a separate session per user
            j = jobs[name]
            started[name] = time.perf_counter()
            results[name] = restore(c, j["video"], j["audio"], j["ffl"], j["lip"], length=j["length"])
            finished[name] = time.perf_counter()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=user, args=(n,)) for n in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    # the two runs overlapped in time (the queue runs two at once)
    assert max(started.values()) < min(finished.values())
    (face_a, _, m_a), (face_b, _, m_b) = results["a"], results["b"]
    assert face_a != face_b
    assert probe_video(face_a).frame_count == 50 and probe_video(face_b).frame_count == 75
    assert list(table(m_a)) == ["bicubic", PERTURBED] and list(table(m_b)) == ["bicubic", PLAIN]
    assert table(m_b)[PLAIN] == table(m_b)["bicubic"]
    assert table(m_a)[PERTURBED]["PSNR-Y (dB)"] < table(m_a)["bicubic"]["PSNR-Y (dB)"]
    # each user got the sound of their own clip
    a_src, b_src = read_audio(GRID_A, duration=2.0), read_audio(GRID_B, duration=2.0)
    assert audio_match(read_audio(face_a), a_src) > 0.9 and abs(audio_match(read_audio(face_a), b_src)) < 0.3
    assert audio_match(read_audio(face_b), b_src) > 0.9


@pytest.mark.slow
def test_cancel_stops_the_work(client: Client, server: AppServer) -> None:
    job = client.submit(handle_file(str(VOX_LONG)), True, True, True, "simulate", 0.0, 10.0, "none",
                        api_name="/restore")
    deadline = time.perf_counter() + 120
    while time.perf_counter() < deadline:  # wait until the work really runs
        status = job.status()
        if status.progress_data and status.progress_data[0].desc != "Reading the video":
            break
        time.sleep(0.1)
    else:
        pytest.fail("the run never reported progress")
    assert "Decoding frames" in status.progress_data[0].desc  # the face pass of 250 frames, ~10 s of work
    t_cancel = time.perf_counter()
    job.cancel()
    # the worker stops at its next chunk: well before the 10 s segment could have been processed
    assert server.wait_for_log("run cancelled; work stopped", timeout=8), server.log_text()[-2000:]
    print(f"work stopped {time.perf_counter() - t_cancel:.2f} s after cancel")
    assert "Restored **250 frames**" not in server.log_text()


# --------------------------------------------------------------------------- parts, in-process


def test_settings_from_flags_and_environment() -> None:
    from app.settings import parse_settings

    s = parse_settings([], environ={})
    assert s.host == "127.0.0.1" and s.weights is None and s.max_seconds == 10
    s = parse_settings([], environ={"GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_SERVER_PORT": "7860",
                                    "VFHGAN_WEIGHTS": "org/vfhgan"})
    assert (s.host, s.port, s.weights) == ("0.0.0.0", 7860, "org/vfhgan")
    s = parse_settings(["--host", "10.0.0.2", "--weights", "/w", "--max-seconds", "4"],
                       environ={"VFHGAN_HOST": "0.0.0.0", "VFHGAN_WEIGHTS": "org/x"})
    assert (s.host, s.weights, s.max_seconds) == ("10.0.0.2", "/w", 4.0)


def test_segment_planning() -> None:
    from app.engine import plan_segment
    from app.settings import SettingsError

    info = probe_video(VOX_LONG)  # 11.92 s
    seg = plan_segment(info, 9.0, 10.0, 10.0)
    assert seg.start == 9.0 and seg.duration == pytest.approx(info.duration - 9.0)
    assert plan_segment(info, None, None, 10.0).duration == 10.0
    for start, length, pattern in ((12.5, 1.0, "after the end"), (-1.0, 1.0, "0 or more"),
                                   (0.0, 0.0, "must be positive"), (0.0, 10.5, "limit of 10 s")):
        with pytest.raises(SettingsError, match=pattern):
            plan_segment(info, start, length, 10.0)


def test_sessions_keep_only_their_last_run_and_clean_up(tmp_path: Path) -> None:
    from app.sessions import SessionRegistry

    reg = SessionRegistry(root=tmp_path)
    flag1, run1 = reg.start_run("alice")
    (run1 / "a.mp4").write_bytes(b"x")
    flag2, run2 = reg.start_run("alice")
    _, bob = reg.start_run("bob")
    assert not run1.exists() and run2.is_dir() and bob.is_dir()
    assert reg.cancel("alice") == 2 and flag1.is_set() and flag2.is_set()
    reg.end_run("alice", flag1)
    reg.end_run("alice", flag2)
    assert reg.cancel("alice") == 0
    # a lab run is cancelled on its own: Stop in the lab leaves a restoration alone, and back
    lab = reg.start_lab("alice")
    flag3, _ = reg.start_run("alice")
    assert reg.cancel_lab("alice") == 1 and lab.is_set() and not flag3.is_set()
    reg.end_lab("alice", lab)
    lab2 = reg.start_lab("alice")
    assert reg.cancel("alice") == 1 and flag3.is_set() and not lab2.is_set()
    reg.close("alice")                                   # the end of the session stops everything
    assert lab2.is_set() and reg.cancel_lab("alice") == 0
    assert not run2.exists() and bob.is_dir()
    reg.close_all()
    assert not reg.root.exists()


@pytest.fixture(scope="module")
def job(weights: Path, detector_model: Path, tmp_path_factory: pytest.TempPathFactory):
    """A 1 s simulate-mode run of both variants, in-process, with its progress reports."""
    from app.engine import Segment, run_job
    from app.model_store import ModelStore
    from vfhgan_core.faces.detection import DetectorConfig

    store = ModelStore(str(weights), DetectorConfig(model_path=str(detector_model)))
    reports: list[tuple[str, float]] = []
    result = run_job(store, GRID_A, [PERTURBED, PLAIN], "simulate", Segment(0.0, 1.0),
                     tmp_path_factory.mktemp("job"), progress=lambda label, v: reports.append((label, v)))
    return result, reports


def test_progress_is_monotonic_and_names_every_stage(job) -> None:
    from app.engine import STAGE_LABELS

    _, reports = job
    values = [v for _, v in reports]
    assert values == sorted(values) and values[0] == 0.0 and values[-1] == pytest.approx(1.0)
    labels = list(dict.fromkeys(label for label, _ in reports))
    assert labels == [STAGE_LABELS[s] for s in ("load", "faces", "crops", "audio", "restore", "metrics", "encode")]
    # the face pass (the longest stage) moves the bar while it runs, not only at its end
    faces = [v for label, v in reports if label == STAGE_LABELS["faces"]]
    assert len(set(faces)) >= 2


def test_inspector_images_keep_pixels_and_panels(job) -> None:
    from app import figures

    result, _ = job
    names = figures.panel_names(result)
    assert names == ["LR 32x32", "bicubic", PERTURBED, PLAIN, "ground truth"]
    side = figures.comparison_image(result, 10, factor=2)
    assert side.shape == (256, 256 * 5, 3)
    before, after = figures.before_after(result, 10, "bicubic", "ground truth", factor=3)
    assert np.array_equal(before[::3, ::3], result.result.bicubic[10])
    assert np.array_equal(after[::3, ::3], result.result.gt[10])
    gallery = figures.mouth_gallery(result, 10, zoom=5)
    assert [caption for _, caption in gallery] == names
    for image, _ in gallery:
        assert np.array_equal(image, np.repeat(np.repeat(image[::5, ::5], 5, 0), 5, 1))  # nearest neighbour


def test_frequency_figures_show_each_method(job) -> None:
    from app import figures

    result, _ = job
    spectra = figures.spectra_figure(result, 10)
    assert [t.type for t in spectra.data] == ["heatmap"] * 4  # bicubic, 2 variants, GT
    radial = figures.radial_figure(result, 10)
    curves = {t.name.split(" (")[0]: np.asarray(t.y) for t in radial.data}
    assert list(curves) == ["bicubic", PERTURBED, PLAIN, "ground truth"]
    freqs = np.asarray(radial.data[0].x)
    high = freqs > figures.LR_NYQUIST * 1.5
    # bicubic lost the high band that the ground truth has
    assert curves["bicubic"][high].mean() < 0.5 * curves["ground truth"][high].mean()
    assert np.allclose(curves[PLAIN], curves["bicubic"])
    loss = figures.loss_figure(result, 10)
    heat = [np.asarray(t.z) for t in loss.data]
    assert len(heat) == 6  # (error, weight) for bicubic and each variant
    weights = heat[1::2]
    assert all(w.max() == pytest.approx(1.0) and w.min() >= 0 for w in weights)
    assert np.allclose(heat[0], heat[4]) and not np.allclose(heat[0], heat[2])  # bicubic == untrained variant


def test_training_curves_come_with_the_weights(job, weights: Path, tmp_path: Path) -> None:
    import shutil

    import torch

    from app import figures
    from app.model_store import ModelStore
    from vfhgan_core.evaluation.spectral_curves import SpectralCurves

    result, _ = job
    r = result.result

    def frames(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a).permute(0, 3, 1, 2).float() / 255

    curves = SpectralCurves.empty()
    curves.record(0, frames(r.bicubic), frames(r.gt), frames(r.bicubic))
    curves.record(100, frames(r.sr[PERTURBED]), frames(r.gt))
    root = tmp_path / "weights"
    shutil.copytree(weights, root)
    curves.save(root / PERTURBED)
    store = ModelStore(str(root))
    got = store.spectral_curves(PERTURBED)
    assert got is not None and got.steps == [0, 100] and store.spectral_curves(PLAIN) is None
    fig = figures.training_curves_figure(result, {PERTURBED: got, PLAIN: None})
    assert [t.name for t in fig.data] == [PERTURBED]
    y = np.asarray(fig.data[0].y)
    assert y[0] == pytest.approx(got.bicubic_above_nyquist_db(), abs=1e-3)  # step 0: the bicubic frames
    assert y[1] != pytest.approx(y[0], abs=0.01)
    assert f"{PLAIN}: no curves" in fig.layout.title.text
    empty = figures.training_curves_figure(result, {PLAIN: None})
    assert "No training curves" in empty.layout.annotations[0].text


def test_metrics_table_and_plot(job) -> None:
    from app import figures

    result, _ = job
    df = figures.metrics_table(result)
    assert list(df.columns) == figures.TABLE_HEADERS and list(df["method"]) == ["bicubic", PERTURBED, PLAIN]
    assert np.isfinite(df.iloc[:, 1:5].to_numpy(dtype=float)).all()
    fig = figures.metrics_figure(result, 5)
    assert len(fig.data) == 3 * 3 and all(len(t.y) == result.result.num_frames for t in fig.data)
    assert figures.metrics_table(None).empty


# --------------------------------------------------------------------------- shutdown (last: stops the server)


def test_temporary_files_are_removed_at_shutdown(client: Client, server: AppServer) -> None:
    root = Path(re.search(r"temporary files in (\S+)", server.log_text()).group(1))
    client.predict(handle_file(str(GRID_A)), False, False, False, "simulate", 0.0, 0.4, "none", api_name="/restore")
    assert any(root.rglob("*.mp4"))  # this session's last run is kept for download while the app runs
    server.stop()  # SIGTERM, as a container stop sends
    assert not server.alive and not root.exists()


def test_the_switch_status_says_how_much_training_the_chosen_weights_had(detector_model: Path, weights: Path) -> None:
    """The status line under the switches reads the variant's RunRecord: how many steps, how long, on what."""
    from app.callbacks import AppCallbacks
    from app.settings import AppSettings
    from vfhgan_core.weights.hub import load_run_record

    bundled = AppCallbacks(AppSettings(detector_model=str(detector_model)))
    text = bundled.on_switches(True, True, True)
    summary = load_run_record("audio-ffl-lip").summary()
    assert "✓ weights available" in text and f"trained {summary}." in text
    # weights without a training.json (the test variants): no training claim
    plain = AppCallbacks(AppSettings(detector_model=str(detector_model), weights=str(weights)))
    text = plain.on_switches(True, True, True)
    assert text.endswith("✓ weights available.") and "trained" not in text
