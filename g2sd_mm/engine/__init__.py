from .safe_checkpoint import (CheckpointError, load_checkpoint_file,
                              register_safe_globals)

__all__ = ['CheckpointError', 'load_checkpoint_file', 'register_safe_globals']
