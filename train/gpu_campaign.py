#!/usr/bin/env python
"""Train the whole variant set in one go on a borrowed GPU machine, inside a fixed wall-clock.

Two steps, on two machines:

1. here, where the data and PyAV are: ``pack`` writes the training and validation clips of
   the variant configs as a compact pack (``vfhgan_core/data/packed.py``, about 1 KB a
   frame), small enough to travel with the repository;
2. there: ``run`` unpacks it on all cores, trains the three pixel pretrains side by side,
   then every fine-tune (and the sweeps of ``gpu_campaign.json``) side by side, each
   phase inside its share of ``--minutes`` (the step count that fits is measured at the
   start of the phase, and all fine-tunes agree on one), exports every variant, and writes
   everything to one archive in the output folder.

::

    python train/gpu_campaign.py pack .gpu_pack                 # here (needs ../prepared, see README §1)
    bash train/gpu_campaign.sh .gpu_pack OUT                     # there: one command, no edits
    python train/gpu_campaign.py unpack-results OUT/campaign.tar.gz runs/gpu   # here, afterwards

``--tiny`` runs the same chain with 3 steps a run and no budget (the CPU rehearsal and the
CI test). The machine needs torch, accelerate, numpy, opencv and safetensors; not PyAV,
librosa or insightface.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vfhgan_core.data.packed import PackSettings, pack_prepared, read_pack_index, unpack  # noqa: E402
from vfhgan_core.data.windows import find_clip_shards, sentence_holdout  # noqa: E402
from vfhgan_core.experiment import ExperimentConfig, load_experiment, save_experiment  # noqa: E402
from vfhgan_core.weights.run_record import RunRecord  # noqa: E402

CONFIGS = ROOT / "train" / "configs"
CAMPAIGN = ROOT / "train" / "gpu_campaign.json"
VARIANTS = ("audio-ffl-lip", "audio-ffl-nolip", "audio-noffl-lip", "audio-noffl-nolip",
            "noaudio-ffl-lip", "noaudio-ffl-nolip", "noaudio-noffl-lip", "noaudio-noffl-nolip",
            "audio-ffl-lip-noattn")
ARCHIVE = "campaign.tar.gz"


def _campaign(path: Path = CAMPAIGN) -> dict:
    return json.loads(Path(path).read_text())


def _pretrain_of(exp: ExperimentConfig) -> str:
    return Path(exp.init_from).parent.name if exp.init_from else ""


# --------------------------------------------------------------------------- pack (here)


def cmd_pack(args: argparse.Namespace) -> int:
    exp = load_experiment(CONFIGS / "audio-ffl-lip.json")
    train = [args.prepared_root / Path(p).name if args.prepared_root else Path(p) for p in exp.data.train]
    val = [args.prepared_root / Path(p).name if args.prepared_root else Path(p) for p in exp.data.val]
    held_out = sentence_holdout(train, exp.data.holdout_sentences)
    s1 = train[0].name
    s1_ids = sorted(c for c in find_clip_shards(train[0]) if not held_out(c))
    step = max(1, len(s1_ids) / args.s1_clips) if args.s1_clips else 1
    keep_s1 = {s1_ids[int(i * step)] for i in range(min(len(s1_ids), args.s1_clips or len(s1_ids)))}

    def keep(clip_id: str) -> bool:
        if held_out(clip_id):
            return False          # the lip reader's evaluation sentences never travel
        return clip_id in keep_s1 if clip_id.startswith(s1 + "/") else True

    t0 = time.time()
    index = pack_prepared([*train, *val], args.out, PackSettings(crf=args.crf), keep=keep)
    print(json.dumps({"out": str(args.out), "MiB": round(index["bytes"] / 2**20, 2), "frames": index["frames"],
                      "clips": {k: len(v) for k, v in index["sources"].items()},
                      "seconds": round(time.time() - t0, 1)}))
    return 0


# --------------------------------------------------------------------------- run (there)


def _phase_config(base: ExperimentConfig, phase: dict, data: dict[str, str], work: Path,
                  tiny: dict | None, lip_reader: str | None) -> ExperimentConfig:
    sections = {k: v for k, v in phase.items() if k in ("optim", "data", "discriminator", "losses")}
    if tiny:
        for k, v in tiny.items():
            if k != "$comment":
                sections[k] = {**sections.get(k, {}), **v}
    sections.setdefault("data", {})
    sections["data"] = {**sections["data"],
                        "train": tuple(data[Path(p).name] for p in base.data.train),
                        "val": tuple(data[Path(p).name] for p in base.data.val)}
    exp = base.with_overrides(**{k: v for k, v in sections.items() if k != "losses"})
    if "losses" in sections:
        exp = exp.with_overrides(losses=sections["losses"])
    if exp.init_from:
        # the run folder: its final/ weights, or its newest checkpoint if the deadline stopped it
        exp = exp.with_overrides(init_from=str(work / "runs" / _pretrain_of(base)))
    if exp.lip_reader and lip_reader:
        exp = exp.with_overrides(lip_reader=lip_reader)
    return exp


def _launch(jobs: dict[str, Path], work: Path, deadline: float | None, tiny: bool, cpu: bool,
            export: dict[str, Path], threads: int, window: tuple[int, int]) -> dict[str, dict]:
    """Run the configs in ``jobs`` side by side; return each one's exit code and minutes."""
    sync = work / "budget" / str(int(time.time() * 1000))
    # many jobs share one GPU: uncapped, each fine-tune's cache grew to ~15 GiB and two of eleven
    # ran out of the H200's 140 GiB (train/README.md §7); hence the fraction above and expandable segments
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               PYTORCH_CUDA_ALLOC_CONF=os.environ.get("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True"),
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), PYTHONUNBUFFERED="1")
    procs = {}
    for name, config in jobs.items():
        cmd = [sys.executable, str(ROOT / "train" / "train_vfhgan.py"), "--config", str(config),
               "--output-dir", str(work / "runs" / name)]
        if name in export:
            cmd += ["--export", str(export[name])]
        if cpu:
            cmd += ["--cpu"]
        else:
            cmd += ["--gpu-memory-fraction", f"{0.95 / len(jobs):.4f}"]
        if deadline is not None and not tiny:
            cmd += ["--time-budget", f"@{deadline:.1f}", "--budget-sync", str(sync),
                    "--budget-jobs", str(len(jobs)), "--budget-window", *map(str, window)]
        log = open(work / "logs" / f"{name}.log", "w")
        procs[name] = (subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT),
                       time.time(), log)
        print(f"start {name}", flush=True)
    results = {}
    while procs:
        for name, (proc, t0, log) in list(procs.items()):
            rc = proc.poll()
            if rc is None and deadline is not None and time.time() > deadline + 60:
                proc.terminate()          # the trainer checkpoints on SIGTERM and stops
                rc = proc.wait(timeout=120)
            if rc is None:
                continue
            log.close()
            if rc != 0 and deadline is not None:
                # a job that died must not keep the others waiting for its step count
                (sync / f"{name}.json").parent.mkdir(parents=True, exist_ok=True)
                (sync / f"{name}.json").write_text(json.dumps({"steps": 1 << 40}))
            if rc != 0 and name in export and list((work / "runs" / name / "checkpoints").glob("checkpoint-*")):
                # stopped at the deadline: export what its newest checkpoint holds
                exp_rc = subprocess.call([sys.executable, str(ROOT / "train" / "export_weights.py"),
                                          str(work / "runs" / name), "--out", str(export[name])], cwd=ROOT, env=env)
                print(f"exported the newest checkpoint of {name} (exit {exp_rc})", flush=True)
            results[name] = {"exit": rc, "minutes": round((time.time() - t0) / 60, 2)}
            print(f"{'done' if rc == 0 else 'FAILED'} {name} (exit {rc}) in {results[name]['minutes']} min",
                  flush=True)
            del procs[name]
        time.sleep(2)
    return results


def cmd_run(args: argparse.Namespace) -> int:
    t_start = time.time()
    out, work = Path(args.out), Path(args.work)
    out.mkdir(parents=True, exist_ok=True)
    (work / "logs").mkdir(parents=True, exist_ok=True)
    (work / "configs").mkdir(parents=True, exist_ok=True)
    campaign = _campaign(args.campaign)
    tiny = campaign["tiny"] if args.tiny else None
    summary: dict = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "minutes": args.minutes, "tiny": args.tiny,
                     "host": os.uname().nodename, "cpus": os.cpu_count()}
    try:
        import torch
        summary["torch"] = torch.__version__
        summary["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() and not args.cpu else None
    except Exception as exc:  # reported, not fatal: the trainers say more
        summary["torch_error"] = repr(exc)

    # ---- 1. the data
    index = read_pack_index(args.pack)
    sources = list(index["sources"])
    unpack(args.pack, work / "prepared", workers=os.cpu_count() or 1, compress=False)
    data = {name: str(work / "prepared" / name) for name in sources}
    summary["unpack_s"] = round(time.time() - t_start, 1)
    print(f"unpacked {index['frames']} frames of {len(sources)} sources in {summary['unpack_s']} s", flush=True)

    # ---- 2. the configs
    lip_reader = str(ROOT / "assets" / "weights" / "lipreader")
    variants = [v for v in VARIANTS if not args.only or v in args.only]
    finetunes: dict[str, Path] = {}
    export: dict[str, Path] = {}
    bases = {v: load_experiment(CONFIGS / f"{v}.json") for v in variants}
    for v, base in bases.items():
        exp = _phase_config(base, campaign["phases"]["finetune"], data, work, tiny, lip_reader)
        finetunes[v] = save_experiment(exp, work / "configs" / f"{v}.json")
        export[v] = out / "weights"
    for tag, sweep in campaign.get("sweeps", {}).items():
        for v in sweep["variants"]:
            if v not in bases or args.no_sweeps:
                continue
            phase = dict(campaign["phases"]["finetune"])
            phase["losses"] = sweep["losses"]
            exp = _phase_config(bases[v], phase, data, work, tiny, lip_reader)
            name = f"{v}@{tag}"
            finetunes[name] = save_experiment(exp, work / "configs" / f"{name}.json")
            export[name] = out / "sweeps" / tag
    pretrains: dict[str, Path] = {}
    for name in sorted({_pretrain_of(b) for b in bases.values()}):
        exp = _phase_config(load_experiment(CONFIGS / f"{name}.json"), campaign["phases"]["pretrain"], data,
                            work, tiny, None)
        pretrains[name] = save_experiment(exp, work / "configs" / f"{name}.json")

    # ---- 3. the two phases, each inside its share of what is left
    cores = os.cpu_count() or 1
    budget_end = t_start + args.minutes * 60
    reserve_s = 45 if not args.tiny else 0          # exports, archive
    phases = campaign["phases"]
    results: dict[str, dict] = {}
    now = time.time()
    span = budget_end - reserve_s - now
    pre_deadline = now + span * phases["pretrain"]["share"] / (phases["pretrain"]["share"] + phases["finetune"]["share"])
    window = tuple(campaign.get("budget_window", (20, 40)))
    results.update(_launch(pretrains, work, pre_deadline, args.tiny, args.cpu, {},
                           max(1, cores // max(1, len(pretrains))), window))
    failed = [n for n in pretrains if not (work / "runs" / n / "final").is_dir()
              and not list((work / "runs" / n / "checkpoints").glob("checkpoint-*"))]
    runnable = {n: c for n, c in finetunes.items() if _pretrain_of(bases[n.split("@")[0]]) not in failed}
    if runnable:
        results.update(_launch(runnable, work, budget_end - reserve_s, args.tiny, args.cpu, export,
                               max(1, cores // max(1, len(runnable))), window))
    summary["runs"] = results
    summary["steps"] = {}
    for name in results:
        record = RunRecord.read(work / "runs" / name / "final")
        if record is not None:
            summary["steps"][name] = {"steps": record.steps, "wall_time_s": record.wall_time_s,
                                      "time_budget": record.time_budget}
    summary["wall_s"] = round(time.time() - t_start, 1)

    # ---- 4. one archive: weights, configs, logs, the summary
    (out / "campaign.json").write_text(json.dumps(summary, indent=1))
    with tarfile.open(out / ARCHIVE, "w:gz") as tar:
        for folder in ("weights", "sweeps"):
            if (out / folder).exists():
                tar.add(out / folder, arcname=folder)
        tar.add(work / "configs", arcname="configs")
        tar.add(work / "logs", arcname="logs")
        tar.add(out / "campaign.json", arcname="campaign.json")
    for folder in ("weights", "sweeps"):
        shutil.rmtree(out / folder, ignore_errors=True)   # only the archive travels back
    _split(out / ARCHIVE, args.part_mib)
    print(json.dumps({"wall_s": summary["wall_s"], "failed": sorted(n for n, r in results.items() if r["exit"])}),
          flush=True)
    return 0 if all(r["exit"] == 0 for r in results.values()) else 1


def _split(archive: Path, part_mib: float) -> list[Path]:
    """Cut ``archive`` into ``archive.000``, ``.001``, ... of at most ``part_mib`` MiB (some
    transfers limit the size of one file); a small archive stays whole."""
    size = archive.stat().st_size
    limit = int(part_mib * 2**20)
    if size <= limit:
        return [archive]
    parts = []
    with open(archive, "rb") as fh:
        while chunk := fh.read(limit):
            parts.append(archive.with_name(f"{archive.name}.{len(parts):03d}"))
            parts[-1].write_bytes(chunk)
    archive.unlink()
    return parts


def cmd_unpack_results(args: argparse.Namespace) -> int:
    dest = Path(args.dest)
    dest.mkdir(parents=True, exist_ok=True)
    archive = Path(args.archive)
    parts = sorted(archive.parent.glob(archive.name + ".[0-9][0-9][0-9]"))
    if not archive.is_file() and parts:      # a split archive: join its parts first
        joined = dest / archive.name
        with open(joined, "wb") as fh:
            for part in parts:
                fh.write(part.read_bytes())
        archive = joined
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    print(f"results in {dest}: {sorted(p.name for p in dest.iterdir())}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack", help="write the configs' training and validation clips as one pack")
    p.add_argument("out", type=Path)
    p.add_argument("--s1-clips", type=int, default=None,
                   help="take this many GRID s1 training sentences, spread evenly (default all)")
    p.add_argument("--prepared-root", type=Path, default=None,
                   help="read the configs' data folders from here, by name (default: the configs' paths)")
    p.add_argument("--crf", type=int, default=PackSettings().crf, help="H.264 CRF of the face crops")
    p.set_defaults(func=cmd_pack)
    r = sub.add_parser("run", help="unpack, train every variant within --minutes, export, archive")
    r.add_argument("pack", type=Path)
    r.add_argument("out", type=Path)
    r.add_argument("--minutes", type=float, default=8.5, help="wall-clock for the whole run (default 8.5)")
    r.add_argument("--work", type=Path, default=Path("/tmp/vfhgan_campaign"), help="scratch folder")
    r.add_argument("--campaign", type=Path, default=CAMPAIGN,
                   help="the per-phase changes, shares and sweeps (default train/gpu_campaign.json)")
    r.add_argument("--only", nargs="+", help="these variants only (and their pretrains)")
    r.add_argument("--no-sweeps", action="store_true")
    r.add_argument("--tiny", action="store_true", help="3 steps a run, no budget: the rehearsal")
    r.add_argument("--cpu", action="store_true", help="train on the CPU even if a GPU is present")
    r.add_argument("--part-mib", type=float, default=15.0,
                   help="split the archive into parts of at most this size (default 15 MiB)")
    r.set_defaults(func=cmd_run)
    u = sub.add_parser("unpack-results", help="extract a campaign archive")
    u.add_argument("archive", type=Path)
    u.add_argument("dest", type=Path)
    u.set_defaults(func=cmd_unpack_results)
    args = ap.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
