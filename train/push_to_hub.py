"""Publish exported generator variants (and optionally the lip reader) as one Hugging Face Hub model repo.

Each variant folder ``<weights-dir>/<variant>/`` (written by ``train/export_weights.py`` or
``train/train_vfhgan.py --export``) becomes the subfolder ``<variant>/`` of the repo, which is
the layout :mod:`vfhgan_core.weights.hub` reads (``--weights REPO_ID --variant NAME``,
``VFHGANGenerator.from_pretrained(REPO_ID, subfolder=NAME)``). A repo-level ``README.md``
(model card) lists the variants with their validation metrics, how to load them and the
licences of their training data.

This script is the command line only: the folder format and its validation are
:mod:`vfhgan_core.weights.folder_format`, the repo card :mod:`vfhgan_core.weights.model_card`,
staging and upload :mod:`vfhgan_core.weights.publish`.

Steps, in this order:

1. every selected folder is validated (files present, weights load, folder name = variant of
   the weights and of ``experiment.json``); any problem stops here with status 2;
2. without ``--dry-run``: offline mode, login and the Hub's reachability are checked, again
   before anything is sent (status 1 when the Hub cannot be used);
3. the repo layout is staged in a folder (``<variant>/...``, ``lipreader/...``, ``README.md``);
4. ``--dry-run`` prints the staged files and stops (no network at all); otherwise the repo is
   created if needed and the staged folder is uploaded in one commit.

Usage (from the repository root)::

    python train/push_to_hub.py org/vfhgan --dry-run
    python train/push_to_hub.py org/vfhgan --variants audio-ffl-lip noaudio-noffl-nolip --include-lipreader
    python train/push_to_hub.py org/vfhgan --private --revision experiments --token hf_...

Exit status: 0 done, 1 the Hub could not be used (offline, not logged in, unreachable,
refused), 2 bad arguments or a bad weights folder.
"""
from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
from pathlib import Path

from huggingface_hub import constants

from vfhgan_core.weights.folder_format import LIPREADER, InvalidWeightsError, validate_weights_dir
from vfhgan_core.weights.publish import (
    HubUnavailableError,
    check_hub_access,
    check_repo_id,
    push,
    stage_repo,
    staged_files,
)

log = logging.getLogger("push_to_hub")


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def build_parser() -> argparse.ArgumentParser:
    """The command-line arguments (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog="Exit status: 0 done, 1 the Hub could not be used, 2 bad input.")
    p.add_argument("repo_id", help="Hub model repo, 'user-or-org/name' (created when missing)")
    p.add_argument("--weights-dir", type=Path, default=Path("assets/weights"),
                   help="folder of the exported variant folders (default assets/weights)")
    p.add_argument("--variants", nargs="+", default=["all"], metavar="NAME",
                   help="'all' (default: every variant folder) or variant names, e.g. audio-ffl-lip")
    p.add_argument("--include-lipreader", action="store_true",
                   help="also publish WEIGHTS_DIR/lipreader as lipreader/ (needed to train the -lip variants)")
    p.add_argument("--private", action="store_true", help="create the repo private (an existing repo is unchanged)")
    p.add_argument("--revision", metavar="BRANCH", help="branch to commit to (created when missing; default main)")
    p.add_argument("--token", help="Hub token with write access (default: HF_TOKEN or `hf auth login`)")
    p.add_argument("--commit-message", help="commit message (default: lists the variants)")
    p.add_argument("--staging-dir", type=Path,
                   help="where to lay out the repo (new or empty folder; default a temporary folder, kept with "
                        "--dry-run, removed after a push)")
    p.add_argument("--dry-run", action="store_true",
                   help="validate and build the repo folder, print its files, upload nothing (no network)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit status (0 done, 1 the Hub could not be used, 2 bad input)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        repo_id = check_repo_id(args.repo_id)
        variants, lipreader = validate_weights_dir(args.weights_dir, args.variants, args.include_lipreader)
        log.info("valid: %s", ", ".join(v.name for v in variants) + (f", {LIPREADER}" if lipreader else ""))
        if not args.dry_run:
            check_hub_access(args.token)
        staging = args.staging_dir or Path(tempfile.mkdtemp(prefix="vfhgan-hub-"))
        stage_repo(staging, repo_id, variants, lipreader, args.revision)
    except InvalidWeightsError as exc:
        log.error("%s", exc)
        return 2
    except HubUnavailableError as exc:
        log.error("%s", exc)
        return 1

    files = staged_files(staging)
    if args.dry_run:
        print(f"staged {repo_id} in {staging}")
        for path, size in files:
            print(f"  {path:<40} {_size(size):>10}")
        print(f"{len(files)} files, {_size(sum(s for _, s in files))}; dry run: nothing uploaded "
              f"(would commit to {repo_id}@{args.revision or constants.DEFAULT_REVISION}"
              + (", private" if args.private else "") + ")")
        return 0
    try:
        info = push(staging, repo_id, private=args.private,
                    revision=args.revision, commit_message=args.commit_message, token=args.token)
    except HubUnavailableError as exc:
        log.error("%s", exc)
        return 1
    finally:
        if args.staging_dir is None:
            shutil.rmtree(staging, ignore_errors=True)
    print(f"uploaded {len(files)} files to {repo_id}: {getattr(info, 'commit_url', info)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
