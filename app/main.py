"""Start the app: parse the settings, build the page, launch, warm the models up, serve."""
from __future__ import annotations

import atexit
import logging
import signal
import threading

from .settings import AppSettings, parse_settings

log = logging.getLogger("app")


def main(argv: list[str] | None = None) -> None:
    """``python app.py [--weights DIR_OR_REPO] [--host H] [--port P] ...`` (see ``--help``)."""
    settings = parse_settings(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    serve(settings)


def serve(settings: AppSettings) -> None:
    """Launch the app with ``settings`` and block until it is stopped."""
    from .callbacks import AppCallbacks
    from .ui import build_demo, launch_kwargs

    callbacks = AppCallbacks(settings)
    atexit.register(callbacks.sessions.close_all)
    signal.signal(signal.SIGTERM, _interrupt)  # `kill`, container stop: shut down cleanly, delete files
    log.info("temporary files in %s", callbacks.sessions.root)
    demo = build_demo(settings, callbacks)
    demo.launch(prevent_thread_lock=True, **launch_kwargs(settings))
    # load the detector and the available generators while the first user reads the page
    threading.Thread(target=_warm_up, args=(callbacks,), name="warm-up", daemon=True).start()
    try:
        demo.block_thread()
    finally:
        callbacks.sessions.close_all()


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _warm_up(callbacks) -> None:
    try:
        from . import engine, figures  # noqa: F401  torch, the restoration code, plotly

        callbacks.store.warm_up()
        log.info("models ready: %s", ", ".join(callbacks.store.available()) or "no local weights")
    except Exception as exc:  # the first run will show the problem to the user
        log.warning("warm-up failed: %s", exc)
