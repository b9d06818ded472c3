"""What the training scripts in ``train/`` share; the scripts keep their arguments and the loop's orchestration.

- :mod:`~vfhgan_core.training.datasets`: an experiment's speaker split and its training / validation windows.
- :mod:`~vfhgan_core.training.optimizers`: the generator's parameter groups.
- :mod:`~vfhgan_core.training.schedules`: the warm-up + cosine learning-rate factor of every script.
- :mod:`~vfhgan_core.training.gan_step`: one generator / discriminator update (:class:`GANStep`).
- :mod:`~vfhgan_core.training.validation`: validation frames, their metrics and the bicubic baseline.
- :mod:`~vfhgan_core.training.samples`: sample grids for TensorBoard.
- :mod:`~vfhgan_core.training.checkpoints`: a run's checkpoints (written, listed, resumed), its step
  counter, and the weights it starts from.
- :mod:`~vfhgan_core.training.run_facts`: the device, the data's facts (a
  :class:`~vfhgan_core.weights.run_record.RunRecord`) and the hparams of a run.
- :mod:`~vfhgan_core.training.step_budget`: how many steps fit a wall-clock budget.
"""
