"""Pipelines: networks at work on faces.

- :mod:`~vfhgan_core.pipelines.restore` and :mod:`~vfhgan_core.pipelines.face_restorer`: trained
  networks applied to whole videos (restore a clip, write its videos; the FaceRestorer facade);
- :mod:`~vfhgan_core.pipelines.frequency_lab`: the frequency-loss lab of the app and the ``ffl-lab``
  command (two small networks trained side by side on face crops, one loss apart).
"""
