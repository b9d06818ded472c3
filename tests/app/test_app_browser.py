"""The app in a real browser: Playwright for Python driving Debian's Chromium (never ``playwright install``).

One user's session end to end: upload a GRID clip, flip the switches (a combination
without weights shows its readable error), restore, and check that both videos play,
the frame inspector and every plot rendered, the metrics table holds numbers, and the
page stayed responsive during the run. Screenshots and the measured click-to-results
time go to ``test-artifacts/`` (git-ignored; ``$VFHGAN_TEST_ARTIFACTS`` overrides).
"""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

from app_fixtures import PERTURBED, REPO, AppServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
CLIP = REPO / "assets" / "examples" / "grid_s1_bbaf2n.mp4"
ARTIFACTS = Path(os.environ.get("VFHGAN_TEST_ARTIFACTS", REPO / "test-artifacts"))


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: apt-get install -y chromium (see README)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def page(server: AppServer, browser):
    pg = browser.new_page(viewport={"width": 1400, "height": 1000})
    pg.set_default_timeout(60_000)
    pg.goto(server.url)
    pg.wait_for_selector("#run-button")
    yield pg
    if not pg.is_closed():
        pg.close()


def status_text(page) -> str:
    return page.locator("#weights-status").inner_text()


def test_one_session_end_to_end(page, server: AppServer) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        _session(page, server)
    except BaseException:
        if not page.is_closed():
            page.screenshot(path=str(ARTIFACTS / "app_browser_failure.png"), full_page=True)
        print("---- app log (tail)\n" + server.log_text()[-4000:])
        raise


def _session(page, server: AppServer) -> None:
    # ---- upload: the clip is probed and the segment controls follow it
    page.locator("#input-video input[type=file]").set_input_files(str(CLIP))
    page.wait_for_function("document.querySelector('#input-video video') !== null")
    page.get_by_text("360×288, 25.00 fps, 3.00 s").wait_for()

    # ---- flip the switches: a combination without weights says so, in the page and on Run
    assert "weights available" in status_text(page) and PERTURBED in status_text(page)
    page.locator("#switch-ffl input").click()
    page.wait_for_function("document.querySelector('#weights-status').innerText.includes('no trained weights')")
    assert "audio-noffl-lip" in status_text(page)
    page.locator("#run-button").click()
    toast = page.get_by_text("No trained weights for 'audio-noffl-lip'")
    toast.first.wait_for()
    assert "Traceback" not in page.content()
    page.locator("#switch-ffl input").click()
    page.wait_for_function("document.querySelector('#weights-status').innerText.includes('weights available')")
    # ---- real mode recommends the variant trained on degraded video; simulate mode goes back
    page.get_by_label("real: the face is genuinely low-res", exact=False).check()
    page.wait_for_function("document.querySelector('#weights-status').innerText.includes('audio-ffl-lip-real')")
    assert page.locator("#switch-real input").is_checked()
    page.locator("#simulated-input").wait_for(state="hidden")      # real mode takes the video as it is
    page.get_by_label("simulate: shrink the face", exact=False).check()
    page.wait_for_function("!document.querySelector('#weights-status').innerText.includes('-real')")
    assert not page.locator("#switch-real input").is_checked()
    page.locator("#simulated-input").wait_for(state="visible")
    # a degraded simulated input recommends it too
    page.get_by_label("degraded: blur, noise", exact=False).check()
    page.wait_for_function("document.querySelector('#weights-status').innerText.includes('audio-ffl-lip-real')")
    page.get_by_label("clean: bicubic", exact=False).check()
    page.wait_for_function("!document.querySelector('#weights-status').innerText.includes('-real')")
    assert "weights available" in status_text(page)

    # ---- run one variant on the 3 s clip, with the mirror self-ensemble, and time click → results
    page.locator("#self-ensemble input").check()
    t0 = time.perf_counter()
    page.locator("#run-button").click()
    # the page stays responsive while the server restores: a switch round-trips at once
    page.wait_for_selector(".progress-text, .eta-bar, .progress-level", timeout=20_000)
    t_switch = time.perf_counter()
    page.locator("#switch-lip input").click()
    page.wait_for_function("document.querySelector('#weights-status').innerText.includes('audio-ffl-nolip')")
    switch_latency = time.perf_counter() - t_switch
    page.locator("#switch-lip input").click()
    page.wait_for_function("document.querySelectorAll('#metrics-table [role=gridcell]').length >= 12",
                           timeout=120_000)
    click_to_results = time.perf_counter() - t0
    page.wait_for_function("document.querySelector('#side-by-side img') !== null")
    page.wait_for_function("document.querySelector('#summary').innerText.includes('Restored')")
    assert "mirror self-ensemble" in page.locator("#summary").inner_text()
    print(f"click to results: {click_to_results:.2f} s; switch answered in {switch_latency:.2f} s during the run")
    assert switch_latency < 5.0

    # ---- both videos play
    for vid in ("#restored-video", "#comparison-video"):
        state = page.evaluate("""async (sel) => {
            const v = document.querySelector(sel + ' video');
            if (v.readyState < 1) await new Promise(r => v.addEventListener('loadedmetadata', r, {once: true}));
            v.muted = true;
            await v.play();
            await new Promise(r => setTimeout(r, 700));
            return {duration: v.duration, time: v.currentTime, width: v.videoWidth, error: v.error && v.error.code};
        }""", vid)
        assert state["error"] is None and state["duration"] == pytest.approx(3.0, abs=0.1), (vid, state)
        assert state["time"] > 0, (vid, state)
    assert page.evaluate("document.querySelector('#comparison-video video').videoWidth") == 128 * 4

    # ---- metrics table: numbers for bicubic and the variant
    rows = page.locator("#metrics-table [role=row]").all()
    cells = [[c.inner_text().strip() for c in r.locator("[role=gridcell]").all()] for r in rows]
    cells = [r for r in cells if r]  # the header row has column headers, not cells
    assert [r[0] for r in cells] == ["bicubic", PERTURBED]
    for r in cells:
        psnr, ssim, erqa = float(r[1]), float(r[2]), float(r[3])
        assert 15 < psnr < 60 and 0 < ssim <= 1 and 0 <= erqa <= 1

    # ---- frame inspector: side by side (LR | bicubic | variant | GT, x2), mouths, before/after; the slider moves it
    sizes = page.evaluate("""() => {
        const s = document.querySelector('#side-by-side img'), m = document.querySelector('#mouth-zooms img');
        return [s.naturalWidth, s.naturalHeight, m ? m.naturalWidth : 0,
                document.querySelectorAll('#before-after img').length];
    }""")
    assert sizes[:2] == [2 * 128 * 4, 2 * 128] and sizes[2] > 0 and sizes[3] >= 2
    page.screenshot(path=str(ARTIFACTS / "app_browser_inspector.png"), full_page=True)
    before = page.locator("#side-by-side img").get_attribute("src")
    number = page.locator("#frame-slider input[type=number]")
    t_frame = time.perf_counter()
    number.fill("5")
    number.press("Enter")
    page.wait_for_function("(src) => document.querySelector('#side-by-side img').getAttribute('src') !== src",
                           arg=before)
    frame_latency = time.perf_counter() - t_frame

    # ---- frequency view: the three figures rendered by plotly, with a curve per method
    page.get_by_role("tab", name="Frequency view").click()
    for plot in ("#spectra-plot", "#radial-plot", "#loss-plot"):
        page.wait_for_selector(f"{plot} .js-plotly-plot .main-svg")
    assert page.locator("#spectra-plot .heatmaplayer .hm").count() == 3  # bicubic, variant, GT
    assert page.locator("#loss-plot .heatmaplayer .hm").count() == 4  # (error, weight) x (bicubic, variant)
    assert page.locator("#radial-plot .scatterlayer .trace").count() == 3
    assert "Radial power spectrum, frame 5" in page.locator("#radial-plot").inner_text()
    # the test weights carry no training curves, and the plot says so
    page.wait_for_selector("#train-curves-plot .js-plotly-plot .main-svg")
    assert "No training curves" in page.locator("#train-curves-plot").inner_text()
    page.screenshot(path=str(ARTIFACTS / "app_browser_frequency.png"), full_page=True)

    # ---- per-frame metrics plot: three panels, a line per method in each
    page.get_by_role("tab", name="Metrics per frame").click()
    page.wait_for_selector("#metrics-plot .js-plotly-plot .main-svg")
    assert page.locator("#metrics-plot .scatterlayer .trace").count() == 3 * 2
    page.get_by_role("tab", name="How it works").click()
    page.wait_for_selector(".architecture svg")
    page.screenshot(path=str(ARTIFACTS / "app_browser.png"), full_page=True)

    (ARTIFACTS / "app_browser_timing.json").write_text(json.dumps({
        "clip": CLIP.name, "seconds_of_video": 3.0, "variants": 1, "self_ensemble": True,
        "click_to_results_s": round(click_to_results, 2), "switch_latency_during_run_s": round(switch_latency, 2),
        "frame_change_to_new_image_s": round(frame_latency, 2),
        "server_startup_s": round(server.startup_seconds, 2), "cpu_count": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }, indent=2))
    assert click_to_results < 60
    print(f"frame slider to new inspector image: {frame_latency:.2f} s")

    # ---- closing the tab ends the session: its files are deleted
    root = Path(re.search(r"temporary files in (\S+)", server.log_text()).group(1))
    assert _videos_under(root)
    page.close()
    deadline = time.perf_counter() + 30
    while _videos_under(root) and time.perf_counter() < deadline:
        time.sleep(0.2)
    assert not _videos_under(root), "the closed session's files were not removed"


def _videos_under(root: Path) -> list[str]:
    """The .mp4 files below root. os.walk, unlike Path.rglob, skips a folder that is deleted while
    it walks (the app removes a closed session's folder at any moment), so polling cannot crash."""
    return [name for _, _, files in os.walk(root) for name in files if name.endswith(".mp4")]


LAB_CLIP = REPO / "assets" / "examples" / "voxceleb2_Input_00098.mp4"


def test_frequency_loss_lab_streams_and_stops(server: AppServer, browser) -> None:
    """The lab tab on an example clip: the images and plots update while the two networks train,
    the final per-band table is shown, and Stop ends a long run where it is."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1100})   # a second visitor's session
    page.set_default_timeout(60_000)
    try:
        _lab_session(page, server.url)
    except BaseException:
        page.screenshot(path=str(ARTIFACTS / "app_browser_lab_failure.png"), full_page=True)
        print("---- app log (tail)\n" + server.log_text()[-4000:])
        raise
    finally:
        page.close()


def _set_number(page, elem_id: str, value: str) -> None:
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(value)
    box.press("Enter")


def _lab_session(page, url: str) -> None:
    page.goto(url)
    page.locator("#input-video input[type=file]").set_input_files(str(LAB_CLIP))
    page.get_by_text("25.00 fps").first.wait_for()
    page.get_by_role("tab", name="Frequency-loss lab").click()
    from app.ui import LAB_DEFAULT_STEPS as steps  # the default run, as a visitor gets it

    t0 = time.perf_counter()
    page.locator("#lab-run").click()

    # ---- while training: the status counts up and the images and plots are redrawn
    page.wait_for_function("document.querySelector('#lab-status').innerText.includes('training')", timeout=60_000)
    page.wait_for_selector("#lab-images img")
    seen_steps, seen_images, seen_bands = set(), set(), set()
    while True:
        state = page.evaluate("""() => ({
            status: document.querySelector('#lab-status').innerText,
            img: (document.querySelector('#lab-images img') || {}).src || '',
            bands: (document.querySelector('#lab-bands') || {}).innerText || '' })""")
        if "done" in state["status"]:
            break
        step = re.search(rf"Step (\d+) / {steps}", state["status"])
        if step:
            seen_steps.add(int(step.group(1)))
            seen_images.add(state["img"])
            seen_bands.add(state["bands"])
        assert time.perf_counter() - t0 < 120, state["status"]
        time.sleep(0.15)
    run_seconds = time.perf_counter() - t0
    print(f"lab: {steps} steps, click to done {run_seconds:.1f} s; saw steps {sorted(seen_steps)}")
    (ARTIFACTS / "app_browser_lab_timing.json").write_text(json.dumps({
        "clip": LAB_CLIP.name, "steps": steps, "click_to_done_s": round(run_seconds, 2),
        "updates_seen": len(seen_steps), "cpu_count": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2)}, indent=2))
    assert len(seen_steps) >= 3 and len(seen_images) >= 3 and len(seen_bands) >= 2

    # ---- at the end: every plot drawn, the per-band table, the verdict, the JSON
    status = page.locator("#lab-status").inner_text()
    assert f"Step {steps} / {steps}" in status and "Above the input's Nyquist limit" in status
    for plot in ("#lab-bands", "#lab-weights", "#lab-curves"):
        page.wait_for_selector(f"{plot} .js-plotly-plot .main-svg")
    assert page.locator("#lab-weights .heatmaplayer .hm").count() == 1
    assert page.locator("#lab-curves .scatterlayer .trace").count() == 6
    assert page.locator("#lab-bands .barlayer .trace").count() == 3
    rows = page.locator("#lab-table [role=row]").all()
    cells = [[c.inner_text().strip() for c in r.locator("[role=gridcell]").all()] for r in rows]
    cells = [r for r in cells if r]
    assert len(cells) == 9 and cells[-1][0].startswith("above Nyquist")
    assert all(float(v) < 0 for r in cells for v in r[1:4])
    page.screenshot(path=str(ARTIFACTS / "app_browser_lab.png"), full_page=True)

    # ---- a long run is stopped where it is, and says so
    _set_number(page, "lab-steps", "6000")
    page.locator("#lab-run").click()
    page.wait_for_function("document.querySelector('#lab-status').innerText.includes('/ 6000')", timeout=60_000)
    page.locator("#lab-cancel").click()
    page.wait_for_function("document.querySelector('#lab-status').innerText.includes('Stopped')", timeout=20_000)
    assert re.search(r"Stopped at step \d+ of 6000", page.locator("#lab-status").inner_text())
    assert "Traceback" not in page.content()
