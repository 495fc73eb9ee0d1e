"""g2sd_mm: G2SD distillation for the OpenMMLab 2.x stack.

Importing the package registers every component into the registry of the
library whose runner uses it, and allow-lists mmengine's checkpoint contents
for torch's safe ``weights_only`` loading (see ``g2sd_mm.engine.safe_checkpoint``).
"""
from .engine import register_safe_globals
from .version import __version__

register_safe_globals()

from . import models  # noqa: E402,F401  (registers the components)
from . import datasets  # noqa: E402,F401

__all__ = ['__version__']
