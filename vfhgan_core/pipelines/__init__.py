"""Pipelines: trained networks applied to whole videos (restore a clip, write its videos; the FaceRestorer facade)."""
