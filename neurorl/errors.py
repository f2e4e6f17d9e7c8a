"""Exception types of neurorl.

Every error a user can cause with bad input is a :class:`NeurorlError`. Errors about a file carry the
file's path and say what is wrong with it, so the command line can print them as one line::

    neurorl: error: session_01.nwb: the trials table has no 'reward_volume' column
"""

from __future__ import annotations

import os

__all__ = [
    "NeurorlError",
    "InvalidArgumentError",
    "InvalidRecordingError",
    "MissingDataError",
    "ChecksumError",
    "RecordingNotFoundError",
    "EmptyFileError",
    "NotHDF5Error",
    "CorruptFileError",
    "NotNWBError",
    "ExternalLinkError",
    "MissingTableError",
    "EmptyTableError",
    "MissingColumnError",
    "NoRewardError",
    "SpikeTimesError",
    "RewardTimesError",
    "RewardVolumeError",
    "OutputFolderError",
    "OutputFolderBusyError",
]


class NeurorlError(Exception):
    """Base class of every error neurorl raises on purpose.

    Parameters
    ----------
    message
        What is wrong, in words a user can act on.
    path
        The file or folder the problem is in, if any. It is prefixed to the message.
    """

    #: Exit status of the command line for this kind of error (1: bad input data, 2: bad arguments).
    exit_code: int = 1

    def __init__(self, message: str, path: str | os.PathLike | None = None) -> None:
        self.message = message
        self.path = None if path is None else os.fspath(path)
        super().__init__(f"{self.path}: {message}" if self.path is not None else message)


class InvalidArgumentError(NeurorlError, ValueError):
    """An argument given by the user is out of range or inconsistent."""

    exit_code = 2


class InvalidRecordingError(NeurorlError, ValueError):
    """A file exists but is not a valid recording (not HDF5, not NWB, corrupt, inconsistent times, ...)."""


class MissingDataError(NeurorlError, LookupError):
    """A file or a required part of it (table, column, units, trials) is missing or empty."""


class ChecksumError(InvalidRecordingError):
    """A data file's content does not match its published checksum."""


# -- specific problems with recording files (each its own type; catch the broad classes above to handle all)
class RecordingNotFoundError(MissingDataError, FileNotFoundError):
    """The file or folder does not exist."""


class EmptyFileError(InvalidRecordingError):
    """The file has zero bytes."""


class NotHDF5Error(InvalidRecordingError):
    """The file is not HDF5 (NWB files are HDF5)."""


class CorruptFileError(InvalidRecordingError):
    """The file is HDF5 but truncated or damaged."""


class NotNWBError(InvalidRecordingError):
    """The file is valid HDF5 but not an NWB file, or pynwb cannot read it."""


class ExternalLinkError(InvalidRecordingError):
    """The file points outside itself: an HDF5 external link, external storage or a virtual dataset (refused
    unless the reader is told to allow them), or a soft link that dangles or leaves the file's tree."""


class MissingTableError(MissingDataError):
    """A required table (Units, trials) is absent."""


class EmptyTableError(MissingDataError):
    """A required table is present but has no rows (e.g. no units)."""


class MissingColumnError(MissingDataError):
    """A required column (e.g. ``reward_volume``) is absent."""


class NoRewardError(MissingDataError):
    """The recording has no rewarded trial (every ``reward_volume`` is NaN)."""


class SpikeTimesError(InvalidRecordingError):
    """Spike times are negative, not finite or not sorted."""


class RewardTimesError(InvalidRecordingError):
    """Reward times are missing for rewarded trials or lie outside the trial they belong to."""


class RewardVolumeError(InvalidRecordingError):
    """Reward sizes are infinite or negative (NaN, meaning no reward, is allowed)."""


# -- output folders (``--out``)
class OutputFolderError(NeurorlError, OSError):
    """An output folder cannot be written: it is a file, on a read-only file system, or not permitted."""


class OutputFolderBusyError(OutputFolderError):
    """Another neurorl run holds the output folder's lock."""
