"""Prepared training data: GRID alignments, shards on disk, the ``prepare`` pipeline."""
