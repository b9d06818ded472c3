"""Train the project's own word-level GRID lip reader (the frozen network of the lip-reading loss).

The command line of :mod:`vfhgan_core.training.lipreader`, which holds the configuration, the
training loop and what it writes (weights, ``training.json``, the model card, ``train_log.jsonl``).
Options override the config file::

    python train/train_lipreader.py --config train/configs/lipreader_grid.json \\
        --data ../prepared/grid_s1 --out assets/weights/lipreader
"""
from __future__ import annotations

import argparse
import logging
import shlex
import sys
from typing import Sequence

from vfhgan_core.training.lipreader import LipReaderTrainConfig, load_config, train

log = logging.getLogger("train_lipreader")


def parse_args(argv: Sequence[str] | None = None) -> tuple[LipReaderTrainConfig, argparse.Namespace]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="JSON LipReaderTrainConfig (e.g. train/configs/lipreader_grid.json)")
    parser.add_argument("--data", help="prepared folder (overrides data.data_dir)")
    parser.add_argument("--out", help="output folder (overrides out_dir)")
    parser.add_argument("--max-steps", type=int, help="overrides optim.max_steps")
    parser.add_argument("--batch-size", type=int, help="overrides optim.batch_size")
    parser.add_argument("--lr", type=float, help="overrides optim.lr")
    parser.add_argument("--eval-every", type=int, help="overrides eval_every")
    parser.add_argument("--seed", type=int, help="overrides seed")
    parser.add_argument("--threads", type=int, help="overrides num_threads")
    parser.add_argument("--max-minutes", type=float, help="overrides max_minutes")
    args = parser.parse_args(argv)
    config = load_config(args.config)
    if args.data is not None:
        config.data.data_dir = args.data
    if args.out is not None:
        config.out_dir = args.out
    if args.max_steps is not None:
        config.optim.max_steps = args.max_steps
    if args.batch_size is not None:
        config.optim.batch_size = args.batch_size
    if args.lr is not None:
        config.optim.lr = args.lr
    if args.eval_every is not None:
        config.eval_every = args.eval_every
    if args.seed is not None:
        config.seed = args.seed
    if args.threads is not None:
        config.num_threads = args.threads
    if args.max_minutes is not None:
        config.max_minutes = args.max_minutes
    return config, args


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        config, _ = parse_args(argv)
        command = shlex.join(["python", "train/train_lipreader.py", *argv])
        result = train(config, command=command)
    except (OSError, ValueError) as exc:   # a missing or invalid config or data folder: say what, no traceback
        log.error("%s", exc)
        return 2
    if result.best is not None:
        log.info("done: %d steps in %.1f min; best held-out word accuracy %.1f%% at step %d (chance %.1f%%); "
                 "saved to %s", result.steps, result.seconds / 60, 100 * result.best.accuracy, result.best.step,
                 100 / len(config.data.vocabulary), result.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
