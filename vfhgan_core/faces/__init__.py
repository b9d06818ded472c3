"""Faces: detection (SCRFD, Haar fallback), one smoothed track per clip, crops and paste-back."""
