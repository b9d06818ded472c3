"""Per-session temporary folders and cancel flags (no heavy imports: the page starts without torch)."""
from __future__ import annotations

import shutil
import tempfile
import threading
import uuid
from pathlib import Path


class SessionRegistry:
    """Per-session temporary folders and cancel flags (keyed by Gradio's session hash)."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="vfhgan-app-", dir=root))
        self._lock = threading.Lock()
        self._flags: dict[str, set[threading.Event]] = {}
        self._lab_flags: dict[str, set[threading.Event]] = {}
        self._runs: dict[str, Path] = {}

    def start_run(self, session: str) -> tuple[threading.Event, Path]:
        """A cancel flag and a fresh output folder for a new run; the session's previous outputs are deleted."""
        flag = threading.Event()
        run_dir = self.root / _safe(session) / uuid.uuid4().hex[:12]
        run_dir.mkdir(parents=True)
        with self._lock:
            self._flags.setdefault(session, set()).add(flag)
            previous, self._runs[session] = self._runs.get(session), run_dir
        if previous is not None:
            shutil.rmtree(previous, ignore_errors=True)
        return flag, run_dir

    def end_run(self, session: str, flag: threading.Event) -> None:
        """Forget a finished run's cancel flag (its files stay until the next run or the session's end)."""
        with self._lock:
            self._flags.get(session, set()).discard(flag)

    def cancel(self, session: str) -> int:
        """Set the cancel flag of every run of ``session`` in progress; returns how many there were."""
        with self._lock:
            flags = list(self._flags.get(session, ()))
        for f in flags:
            f.set()
        return len(flags)

    def start_lab(self, session: str) -> threading.Event:
        """A cancel flag for a frequency-loss lab run (labs write no files; restore runs are left alone)."""
        flag = threading.Event()
        with self._lock:
            self._lab_flags.setdefault(session, set()).add(flag)
        return flag

    def end_lab(self, session: str, flag: threading.Event) -> None:
        """Forget a finished lab run's cancel flag."""
        with self._lock:
            self._lab_flags.get(session, set()).discard(flag)

    def cancel_lab(self, session: str) -> int:
        """Stop every lab run of ``session`` at its next step; returns how many there were."""
        with self._lock:
            flags = list(self._lab_flags.get(session, ()))
        for f in flags:
            f.set()
        return len(flags)

    def close(self, session: str) -> None:
        """The session ended: stop its runs and labs and delete its files."""
        self.cancel(session)
        self.cancel_lab(session)
        with self._lock:
            self._flags.pop(session, None)
            self._lab_flags.pop(session, None)
            self._runs.pop(session, None)
        shutil.rmtree(self.root / _safe(session), ignore_errors=True)

    def close_all(self) -> None:
        """Delete every session's files (at shutdown)."""
        with self._lock:
            for flags in (*self._flags.values(), *self._lab_flags.values()):
                for f in flags:
                    f.set()
            self._flags.clear()
            self._lab_flags.clear()
            self._runs.clear()
        shutil.rmtree(self.root, ignore_errors=True)


def _safe(session: str) -> str:
    return "".join(c for c in session if c.isalnum() or c in "-_")[:64] or "anonymous"
