"""What the training scripts in ``train/`` share: building their data from an experiment config."""
