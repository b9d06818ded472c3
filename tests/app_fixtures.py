"""Helpers for the app tests: generator weights for two variants and a launched ``python app.py``.

Imported by ``tests/app/test_app.py`` and ``tests/app/test_app_browser.py`` (``tests/`` is on
``sys.path``: ``pythonpath`` in pyproject.toml). Everything is written under pytest's
temporary folders.

Untrained generators return exactly bicubic (their heads start at zero), so the
audio variant's last head is drawn from a seeded normal distribution: its output
differs visibly from bicubic, which lets the tests tell the variants apart.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: variant whose output differs from bicubic (perturbed head)
PERTURBED = "audio-ffl-lip"
#: variant that returns exactly bicubic (untrained)
PLAIN = "noaudio-noffl-nolip"
#: a combination with no weights in the test folder
MISSING = "audio-noffl-nolip"


def make_test_weights(root: Path) -> Path:
    """Write :data:`PERTURBED` and :data:`PLAIN` into ``root`` (``save_pretrained`` folders)."""
    import torch

    from vfhgan_core.models.generator import GeneratorConfig, VFHGANGenerator

    torch.manual_seed(0)
    perturbed = VFHGANGenerator(GeneratorConfig(use_audio=True))
    with torch.no_grad():
        torch.nn.init.normal_(perturbed.head_x4.conv.weight, std=0.02, generator=torch.Generator().manual_seed(1234))
    perturbed.save_pretrained(root / PERTURBED)
    VFHGANGenerator(GeneratorConfig(use_audio=False)).save_pretrained(root / PLAIN)
    return root


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    """``python app.py`` in a subprocess, offline, on a free port of 127.0.0.1.

    Attributes after :meth:`start`: ``url``, ``startup_seconds`` (process start → the
    page answers), ``log_path`` (stdout and stderr of the app).
    """

    def __init__(self, weights: Path, detector_model: Path, log_path: Path, *extra_args: str) -> None:
        self.weights = weights
        self.detector_model = detector_model
        self.log_path = log_path
        self.extra_args = extra_args
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.process: subprocess.Popen | None = None
        self.startup_seconds = float("nan")

    def start(self, timeout: float = 120.0) -> "AppServer":
        env = dict(os.environ, HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1")
        for name in ("GRADIO_SERVER_NAME", "GRADIO_SERVER_PORT", "VFHGAN_HOST", "VFHGAN_PORT", "VFHGAN_WEIGHTS"):
            env.pop(name, None)
        cmd = [sys.executable, str(REPO / "app.py"), "--weights", str(self.weights), "--port", str(self.port),
               "--detector-model", str(self.detector_model), *self.extra_args]
        t0 = time.perf_counter()
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        while time.perf_counter() - t0 < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"app.py exited with {self.process.returncode}:\n{self.log_text()}")
            try:
                with urllib.request.urlopen(self.url, timeout=2) as r:
                    if r.status == 200:
                        self.startup_seconds = time.perf_counter() - t0
                        return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"app.py did not answer within {timeout} s:\n{self.log_text()}")

    def wait_for_log(self, text: str, timeout: float) -> bool:
        """True once ``text`` appears in the app's log (polled until ``timeout`` seconds)."""
        end = time.perf_counter() + timeout
        while time.perf_counter() < end:
            if text in self.log_text():
                return True
            time.sleep(0.1)
        return False

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if getattr(self, "_log", None) is not None:
            self._log.close()


def start_test_app(detector_model: Path, tmp_path_factory, *extra_args: str) -> AppServer:
    """``python app.py`` with :func:`make_test_weights`, its weights and log under pytest's temporary folders."""
    weights = make_test_weights(tmp_path_factory.mktemp("weights"))
    return AppServer(weights, detector_model, tmp_path_factory.mktemp("app") / "app.log", *extra_args).start()
