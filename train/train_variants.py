#!/usr/bin/env python
"""Train every generator variant: the pixel pretrains first, then each fine-tune as soon as
the pretrain it starts from (its config's ``init_from``) has finished.

Each config runs as its own ``train/train_vfhgan.py`` process; ``--jobs`` of them run at once,
each limited to ``--threads`` CPU threads (on a 2-core CPU two one-thread jobs finish the whole
set sooner than one two-thread job at a time). Fine-tunes are exported to ``--export``
(``assets/weights/<variant>/`` by default). A real-world variant (``-real``) is its
degraded-input expert joined to the exported clean variant by ``train/train_router.py``
(train/README.md, "The real-world variant"). A config whose run already has ``final/`` is
skipped, so rerunning the command continues an interrupted set. Logs: ``runs/<variant>.log``.

    python train/train_variants.py --jobs 2 --threads 1
    python train/train_variants.py --only audio-ffl-lip noaudio-ffl-lip   # a subset (+ their pretrains)
    python train/train_variants.py --jobs 1 -- --mixed-precision bf16      # on a GPU

A **round** continues every fine-tuned variant from weights it already has (``--continue-from
assets/weights``): each config trains again for the steps given after ``--``, starting from
``ROOT/<variant>/`` instead of its pretrain, into ``--runs DIR/<variant>``. That is how training
goes on across sessions; the exported ``training.json`` and model card list every round and the
total time (:mod:`vfhgan_core.weights.rounds`):

    python train/train_variants.py --continue-from assets/weights --runs runs/round-2 \
        --jobs 2 --threads 1 -- --max-steps 300

With ``--graft-audio`` a round starts each audio variant from the no-audio variant of the same
losses instead (``ROOT/noaudio-ffl-lip/`` for ``audio-ffl-lip``), with a fresh audio branch that
adds nothing at first: audio can then only gain on the no-audio model (train/README §4).
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from vfhgan_core.weights.variants import parse_variant, variant_name

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "train" / "configs"
NOT_VARIANTS = {"smoke", "lipreader_grid"}


@dataclass
class Job:
    name: str
    config: Path
    run_dir: Path
    needs: list[str] = field(default_factory=list)
    is_pretrain: bool = False
    init_from: Path | None = None


def _run_name(init_from: str) -> str:
    """``runs/pretrain-audio/final`` -> ``pretrain-audio``."""
    parts = Path(init_from).parts
    return parts[1] if len(parts) >= 2 and parts[0] == "runs" else Path(init_from).name


def _rel(path: Path) -> str:
    """``path`` relative to the repository root where it lies inside it (commands go into model cards)."""
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def graft_source(name: str) -> str | None:
    """The no-audio variant an audio variant is grafted onto (``audio-ffl-lip`` -> ``noaudio-ffl-lip``);
    None for the variants that are not grafted (no-audio ones, and the attention-free ``-noattn``,
    whose architecture has no no-audio twin)."""
    switches = parse_variant(name)
    if not switches["audio"] or not switches["attention"]:
        return None
    return variant_name(**{**switches, "audio": False})


def discover(only: list[str] | None, continue_from: Path | None = None, runs: Path | None = None,
             graft_audio: bool = False) -> dict[str, Job]:
    """The jobs of the configs; with ``continue_from``, a round: the fine-tunes only, each starting
    from ``continue_from/<variant>`` (the pretrains and the routed ``-real`` variants are left out).
    With ``graft_audio`` as well, each audio variant starts instead from the no-audio variant of
    the same losses, ``continue_from/noaudio-<losses>`` (its cross-modal branch fresh; train/README §4)."""
    jobs: dict[str, Job] = {}
    runs = runs or ROOT / "runs"
    for path in sorted(CONFIGS.glob("*.json")):
        if path.stem in NOT_VARIANTS:
            continue
        cfg = json.loads(path.read_text())
        name = cfg["variant"]
        if continue_from is not None:
            if name.startswith("pretrain") or name.endswith("-real") or (only and name not in only):
                continue
            start = continue_from / name
            if graft_audio and graft_source(name):
                start = continue_from / graft_source(name)
            if not (start / "model.safetensors").is_file():
                raise SystemExit(f"--continue-from {continue_from}: no weights for {name} at {start}")
            jobs[name] = Job(name, path, runs / name, [], False, init_from=start)
            continue
        needs = [_run_name(cfg["init_from"])] if cfg.get("init_from") else []
        jobs[name] = Job(name, path, runs / name, needs, name.startswith("pretrain"))
    if only:
        unknown = sorted(set(only) - set(jobs))
        if unknown:
            raise SystemExit(f"unknown variant(s) {unknown}; configs exist for {sorted(jobs)}")
        keep, todo = set(), list(only)
        while todo:                              # what the asked variants start from, all the way down
            n = todo.pop()
            if n in jobs and n not in keep:
                keep.add(n)
                todo.extend(jobs[n].needs)
        jobs = {n: j for n, j in jobs.items() if n in keep}
    for job in jobs.values():
        for dep in job.needs:
            if dep not in jobs and not (ROOT / "runs" / dep / "final").exists():
                raise SystemExit(f"{job.name} starts from runs/{dep}/final, which neither exists "
                                 f"nor has a config here")
    return jobs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=1, help="training processes at once (default 1)")
    ap.add_argument("--threads", type=int, default=None,
                    help="CPU threads per process (OMP_NUM_THREADS; default: cores / jobs)")
    ap.add_argument("--export", default="assets/weights",
                    help="where fine-tuned variants are exported (default assets/weights)")
    ap.add_argument("--only", nargs="+", default=None, help="train only these variants")
    ap.add_argument("--continue-from", type=Path, default=None,
                    help="a round: continue each fine-tuned variant from ROOT/<variant>/ (e.g. assets/weights)")
    ap.add_argument("--graft-audio", action="store_true",
                    help="with --continue-from: start each audio variant from ROOT/noaudio-<same losses>/, its "
                         "audio branch fresh (it then restores as the no-audio model until the branch learns)")
    ap.add_argument("--runs", type=Path, default=None, help="run folders go here (default runs/)")
    ap.add_argument("--plan", action="store_true",
                    help="print the jobs (what each starts from and waits for) as JSON and train nothing")
    ap.add_argument("extra", nargs="*", help="arguments passed on to train_vfhgan.py (after --)")
    args = ap.parse_args(argv)

    continue_from = (ROOT / args.continue_from).resolve() if args.continue_from else None
    runs = (ROOT / args.runs).resolve() if args.runs else None
    if args.graft_audio and continue_from is None:
        ap.error("--graft-audio needs --continue-from (the folder holding the no-audio variants' weights)")
    jobs = discover(args.only, continue_from, runs, args.graft_audio)
    if args.plan:
        print(json.dumps({n: {"config": str(j.config), "run_dir": str(j.run_dir), "needs": j.needs,
                              "is_pretrain": j.is_pretrain, "init_from": str(j.init_from) if j.init_from else None}
                          for n, j in jobs.items()}, indent=2))
        return 0
    threads = args.threads or max(1, (os.cpu_count() or 1) // max(1, args.jobs))
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               OMP_WAIT_POLICY="PASSIVE")
    done = {n for n, j in jobs.items() if (j.run_dir / "final").exists()}
    for n in sorted(done):
        print(f"skip {n}: {_rel(jobs[n].run_dir)}/final exists", flush=True)
    running: dict[str, tuple[subprocess.Popen, float]] = {}
    failed: list[str] = []
    while True:
        for n, (proc, t0) in list(running.items()):
            rc = proc.poll()
            if rc is None:
                continue
            del running[n]
            took = (time.time() - t0) / 60
            if rc == 0:
                done.add(n)
                print(f"done {n} in {took:.1f} min", flush=True)
            else:
                failed.append(n)
                print(f"FAILED {n} (exit {rc}) after {took:.1f} min: see {_rel(jobs[n].run_dir.parent)}/{n}.log",
                      flush=True)
        blocked = {n for n, j in jobs.items() if any(d in failed for d in j.needs)}
        ready = [j for n, j in jobs.items()
                 if n not in done and n not in running and n not in failed and n not in blocked
                 and all(d in done or d not in jobs for d in j.needs)]
        # pretrains first: they unblock the most work
        ready.sort(key=lambda j: (not j.is_pretrain, j.name))
        while ready and len(running) < args.jobs:
            job = ready.pop(0)
            # paths relative to the repository root: the command is written into the model card
            cmd = [sys.executable, "train/train_vfhgan.py", "--config", str(job.config.relative_to(ROOT))]
            if not job.is_pretrain:
                cmd += ["--export", args.export]
            cmd += ["--output-dir", _rel(job.run_dir)]
            if job.init_from is not None:
                cmd += ["--init-from", _rel(job.init_from)]
            if any((job.run_dir / "checkpoints").glob("checkpoint-*")):
                cmd += ["--resume", "latest"]            # an interrupted run goes on where it stopped
            cmd += args.extra
            if job.name.endswith("-real") and not job.is_pretrain:
                # then join the degraded-input expert to its clean counterpart with the router
                router = [sys.executable, "train/train_router.py", "--degraded", str(job.run_dir.relative_to(ROOT)),
                          "--clean", str(Path(args.export) / job.name.removesuffix("-real")),
                          "--out", args.export, "--cache", str(job.run_dir.relative_to(ROOT) / "router_cache.pt")]
                cmd = ["bash", "-c", f"{shlex.join(cmd)} && {shlex.join(router)}"]
            job.run_dir.parent.mkdir(parents=True, exist_ok=True)
            log = open(job.run_dir.parent / f"{job.name}.log", "w")
            print(f"start {job.name} ({threads} thread(s))", flush=True)
            running[job.name] = (subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log,
                                                  stderr=subprocess.STDOUT), time.time())
        if not running:
            break
        time.sleep(5)
    left = sorted(set(jobs) - done)
    if left:
        print(f"not trained: {left}", flush=True)
        return 1
    print("all variants trained", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
