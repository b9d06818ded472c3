"""Errors a user can act on.

Every failure that comes from the user's input (a file that is not a video, a
clip without a face, ...) raises a subclass of :class:`VFHGANError` whose
message says what was wrong and what to do. The CLI prints the message and
exits with status 2; the app shows it in a ``gr.Error``. Anything else is a
bug and keeps its traceback.
"""
from __future__ import annotations


class VFHGANError(Exception):
    """Base class of the errors caused by input the user can change."""

    #: short machine-readable reason, used in the dataset manifest ("skipped: no_face")
    reason: str = "error"


class MediaError(VFHGANError):
    """A media file could not be used."""

    reason = "unreadable"


class NotAVideoError(MediaError):
    """The file is not a video (text, image, audio-only, unknown format)."""

    reason = "not_a_video"


class CorruptVideoError(MediaError):
    """The container or stream is damaged or truncated so no frame decodes."""

    reason = "corrupt"


class EmptyVideoError(MediaError):
    """The video stream holds no frames."""

    reason = "empty"


class NoAudioStreamError(MediaError):
    """The clip has no audio stream and the caller needs speech."""

    reason = "no_audio"


class FaceError(VFHGANError):
    """Face detection or tracking failed."""

    reason = "face"


class NoFaceError(FaceError):
    """No face was found in any frame of the clip."""

    reason = "no_face"


class FaceTooSmallError(FaceError):
    """The face is too small to be restored meaningfully."""

    reason = "face_too_small"


class DetectorUnavailableError(FaceError):
    """No face detector model could be loaded (and the fallback was refused)."""

    reason = "no_detector"


class WeightsNotFoundError(VFHGANError):
    """Model weights could not be found locally or on the Hub."""

    reason = "no_weights"


class LabSettingsError(VFHGANError):
    """A setting of the frequency-loss lab is out of range; the message says which and what is allowed."""

    reason = "lab_settings"


class LabCancelled(VFHGANError):
    """A frequency-loss lab run was stopped before its last step."""

    reason = "cancelled"
