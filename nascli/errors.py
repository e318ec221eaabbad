"""User-facing errors: raised for user mistakes, shown as one clear message, exit non-zero."""

from __future__ import annotations


class NasError(Exception):
    """A mistake the user can fix (bad input, missing file, wrong option); never a bug.

    The CLI prints the message without a traceback and exits with `exit_code`.
    """

    exit_code: int = 2


class ConfigError(NasError):
    """A config value that is of the wrong type or out of range."""


class GenotypeError(NasError):
    """A genotype that cannot be read, parsed, or belongs to another search space."""


class CheckpointError(NasError):
    """A checkpoint that is missing, corrupt, or not written by nascli."""


class DatasetError(NasError):
    """A dataset that is absent and cannot be downloaded, or is unknown."""


class DivergedError(NasError):
    """Training diverged: the loss became nan or inf. Exit status 3, so a script can tell a diverged
    run (retry with a lower learning rate) from a mistake in its input (2)."""

    exit_code: int = 3


class UnscorableError(NasError):
    """An evaluator could not score one candidate (its network fails on the data, a table lacks it).
    The search records the candidate as failed, with this reason, and goes on."""


class StorageError(NasError):
    """A file could not be written: the disk is full, the directory is read-only or not ours.
    Exit status 74 (EX_IOERR of sysexits.h): the input was fine, the machine was not."""

    exit_code: int = 74
