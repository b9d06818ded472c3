"""The frequency-loss lab in the app: its ``ffl_lab`` API against ``python app.py``, and its figures in-process.

Real clips, the real face detector, real training of the two small networks on the CPU.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from app_fixtures import PERTURBED, AppServer

EXAMPLES = Path(__file__).resolve().parents[2] / "assets" / "examples"
GRID_A = EXAMPLES / "grid_s1_bbaf2n.mp4"
VOX = EXAMPLES / "voxceleb2_Input_00098.mp4"


@pytest.fixture(scope="module")
def client(server: AppServer) -> Client:
    return Client(server.url, verbose=False)


def lab(client: Client, video: Path, at=1.0, frames=1, steps=300, alpha=1.0, beta=1.0, log_matrix=False, patch="1"):
    return client.predict(handle_file(str(video)), at, frames, steps, alpha, beta, log_matrix, patch,
                          api_name="/ffl_lab")


def test_ffl_lab_is_a_documented_api_returning_the_figures(client: Client) -> None:
    api = client.view_api(print_info=False, return_format="dict")
    assert "/ffl_lab" in api["named_endpoints"]
    out = lab(client, VOX, at=1.0, frames=2, steps=300)
    assert out["finished"] is True and out["steps_done"] == 300 and out["frames"] == 2
    assert out["settings"]["alpha"] == 1.0 and out["settings"]["loss_weight"] == 1.0
    assert len(out["bands"]) == 8 and out["high_band_start"] == 0.125
    psnr = out["psnr_y"]
    assert psnr["pixel"] > psnr["bicubic"] + 3 and psnr["pixel + FFL"] > psnr["bicubic"] + 3
    hf = out["high_band_error_db"]
    assert hf["pixel"] < hf["bicubic"] - 2 and hf["pixel + FFL"] < hf["bicubic"] - 2
    curves = out["curves"]
    assert curves["step"][0] == 0 and curves["step"][-1] == 300
    assert len(curves["band_error_db"]["pixel"]) == len(curves["step"])


def test_lab_input_problems_get_readable_errors(client: Client, server: AppServer) -> None:
    with pytest.raises(AppError, match=r"lab's frame time 10 s lies outside the clip \(0 to 3\.00 s\)"):
        lab(client, GRID_A, at=10.0)
    with pytest.raises(AppError, match=r"(less than minimum value|steps must be)"):
        lab(client, GRID_A, steps=0)
    with pytest.raises(AppError, match=r"(not in the list of choices|patch_factor must be 1, 2, 4 or 8)"):
        lab(client, GRID_A, patch="3")
    with pytest.raises(AppError, match=r"(less than minimum value|frequency loss weight must lie in)"):
        lab(client, GRID_A, beta=-1.0)
    assert server.alive
    # none of them reached the lab as an unexpected error (Gradio logs its own range checks)
    assert "unexpected error while running the frequency-loss lab" not in server.log_text()


@pytest.mark.slow
def test_two_labs_and_a_restoration_at_once(server: AppServer) -> None:
    """Two visitors' labs run in parallel with the same result, and a restoration is not held up by them."""
    results: dict[str, object] = {}
    finished: dict[str, float] = {}
    errors: list[BaseException] = []

    def visitor(name: str) -> None:
        try:
            c = Client(server.url, verbose=False)   # one session each
            if name == "restore":
                results[name] = c.predict(handle_file(str(GRID_A)), True, True, True, "simulate", 0.0, 1.0, "none",
                                          api_name="/restore")
            else:
                results[name] = lab(c, GRID_A, steps=1200)
            finished[name] = time.perf_counter()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=visitor, args=(n,)) for n in ("lab-a", "lab-b")]
    for t in threads:
        t.start()
    time.sleep(2.0)                                  # both labs are training now
    restore = threading.Thread(target=visitor, args=("restore",))
    restore.start()
    for t in [*threads, restore]:
        t.join(timeout=300)
    assert not errors, errors
    print({k: round(v - t0, 1) for k, v in finished.items()})
    # the restoration came back while the labs were still training
    assert finished["restore"] < min(finished["lab-a"], finished["lab-b"])
    assert results["restore"][2]["data"][1][0] == PERTURBED
    # the same face and settings: the same numbers for both visitors
    assert results["lab-a"]["band_error_db"] == results["lab-b"]["band_error_db"]


@pytest.mark.slow
def test_cancelling_a_lab_stops_its_training(client: Client, server: AppServer) -> None:
    job = client.submit(handle_file(str(GRID_A)), 1.0, 1, 6000, 1.0, 1.0, False, "1", api_name="/ffl_lab")
    time.sleep(6.0)                                   # face found, training under way (6000 steps: about a minute)
    assert not job.done()
    job.cancel()
    assert server.wait_for_log("lab cancelled; training stopped", timeout=10), server.log_text()[-2000:]


# --------------------------------------------------------------------------- the tab's figures, in-process


@pytest.fixture(scope="module")
def snapshots(detector_model: Path):
    from app.callbacks import AppCallbacks
    from app.settings import AppSettings
    from vfhgan_core.pipelines.frequency_lab import FrequencyLabConfig, run_frequency_lab

    cb = AppCallbacks(AppSettings(detector_model=str(detector_model)))
    crops = cb.lab_frames(str(VOX), 1.0, 1)
    return list(run_frequency_lab(crops, FrequencyLabConfig(steps=100, snapshot_every=50)))


def test_lab_figures_draw_both_networks(snapshots) -> None:
    from app import lab_figures as lf
    from vfhgan_core.pipelines.frequency_lab import ARMS

    last = snapshots[-1]
    panels = lf.lab_panels(last, factor=2)
    assert panels.shape == (256, 5 * 256 + 4 * 6, 3)
    # the target panel is the target, pixel for pixel (enlarged ×2 without smoothing), below its label
    target = panels[:, -256:]
    assert np.array_equal(target[64::2, ::2], last.target[32:])
    bands = lf.band_error_figure(last)
    assert [t.name for t in bands.data] == ["bicubic", *ARMS] and all(len(t.y) == 8 for t in bands.data)
    weights = lf.focal_weight_figure(last)
    z = np.asarray(weights.data[0].z)
    assert z.shape == (128, 128) and 0.5 < z.max() <= 1.0 and z.min() >= 0.0
    curves = lf.curves_figure(last)
    assert len(curves.data) == 6 and all(list(t.x) == [0, 50, 100] for t in curves.data)
    table = lf.band_table(last)
    assert list(table.columns) == lf.BAND_TABLE_HEADERS and len(table) == 9
    assert table.iloc[-1, 4] == pytest.approx(last.high_band_error_db(ARMS[1]) - last.high_band_error_db(ARMS[0]),
                                              abs=0.011)
    assert "training" in lf.lab_status(snapshots[0]) and "done" in lf.lab_status(last)
