"""Per-session temporary folders and cancel flags (no heavy imports: the page starts without torch)."""
from __future__ import annotations

import shutil
import tempfile
import threading
import uuid
from pathlib import Path


class SessionRegistry:
    """Per-session temporary folders and cancel flags (keyed by Gradio's session hash).

    Each session's flags are kept per kind of work: ``"restore"`` runs (with an output
    folder) and ``"lab"`` runs (frequency-loss lab, no files), so that one can be cancelled
    without the other.
    """

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="vfhgan-app-", dir=root))
        self._lock = threading.Lock()
        self._flags: dict[tuple[str, str], set[threading.Event]] = {}
        self._runs: dict[str, Path] = {}

    # ------------------------------------------------------------------ flags of any kind

    def _watch(self, session: str, kind: str) -> threading.Event:
        flag = threading.Event()
        with self._lock:
            self._flags.setdefault((session, kind), set()).add(flag)
        return flag

    def _forget(self, session: str, kind: str, flag: threading.Event) -> None:
        with self._lock:
            self._flags.get((session, kind), set()).discard(flag)

    def _cancel(self, session: str, kinds: tuple[str, ...]) -> int:
        with self._lock:
            flags = [f for kind in kinds for f in self._flags.get((session, kind), ())]
        for f in flags:
            f.set()
        return len(flags)

    # ------------------------------------------------------------------ restore runs

    def start_run(self, session: str) -> tuple[threading.Event, Path]:
        """A cancel flag and a fresh output folder for a new run; the session's previous outputs are deleted."""
        flag = self._watch(session, "restore")
        run_dir = self.root / _safe(session) / uuid.uuid4().hex[:12]
        run_dir.mkdir(parents=True)
        with self._lock:
            previous, self._runs[session] = self._runs.get(session), run_dir
        if previous is not None:
            shutil.rmtree(previous, ignore_errors=True)
        return flag, run_dir

    def end_run(self, session: str, flag: threading.Event) -> None:
        """Forget a finished run's cancel flag (its files stay until the next run or the session's end)."""
        self._forget(session, "restore", flag)

    def cancel(self, session: str) -> int:
        """Set the cancel flag of every run of ``session`` in progress; returns how many there were."""
        return self._cancel(session, ("restore",))

    # ------------------------------------------------------------------ lab runs

    def start_lab(self, session: str) -> threading.Event:
        """A cancel flag for a frequency-loss lab run (labs write no files; restore runs are left alone)."""
        return self._watch(session, "lab")

    def end_lab(self, session: str, flag: threading.Event) -> None:
        """Forget a finished lab run's cancel flag."""
        self._forget(session, "lab", flag)

    def cancel_lab(self, session: str) -> int:
        """Stop every lab run of ``session`` at its next step; returns how many there were."""
        return self._cancel(session, ("lab",))

    # ------------------------------------------------------------------ clean-up

    def close(self, session: str) -> None:
        """The session ended: stop its runs and labs and delete its files."""
        self._cancel(session, ("restore", "lab"))
        with self._lock:
            for key in [k for k in self._flags if k[0] == session]:
                del self._flags[key]
            self._runs.pop(session, None)
        shutil.rmtree(self.root / _safe(session), ignore_errors=True)

    def close_all(self) -> None:
        """Delete every session's files (at shutdown)."""
        with self._lock:
            for flags in self._flags.values():
                for f in flags:
                    f.set()
            self._flags.clear()
            self._runs.clear()
        shutil.rmtree(self.root, ignore_errors=True)


def _safe(session: str) -> str:
    return "".join(c for c in session if c.isalnum() or c in "-_")[:64] or "anonymous"
