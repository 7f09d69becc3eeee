"""Exception types. A :class:`UserError` is the user's to fix (missing file, bad manifest,
missing weights): the CLI prints its message as one line on stderr and exits 2."""

from __future__ import annotations


class UserError(Exception):
    """An error the user can fix; the CLI prints ``vidbench: <message>`` and exits 2."""


class VideoDecodeError(UserError):
    """A video could not be decoded. The message names the file and the reason."""


class ManifestError(UserError):
    """A manifest line or folder layout is invalid. The message names the file and line."""


class MissingWeightsError(UserError):
    """Pretrained weights are not on disk. The message names the file, its URL and where to
    put it."""


class WeightsChecksumError(UserError):
    """A weights file does not match the sha256 recorded in the weights manifest."""
