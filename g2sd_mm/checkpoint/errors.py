"""Errors raised while reading or loading checkpoints."""
import pickle

__all__ = ['CheckpointError', 'UnsafeCheckpointError']


class CheckpointError(RuntimeError):
    """A checkpoint could not be used; the message names the file and the cause."""


class UnsafeCheckpointError(CheckpointError, pickle.UnpicklingError):
    """A checkpoint holds objects other than tensors, plain containers and
    mmengine's logging state (possibly code); it was not unpickled."""
