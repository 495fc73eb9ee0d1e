"""g2sd_mm: G2SD distillation for the OpenMMLab 2.x stack.

Importing the package registers every component into the registry of the
library whose runner uses it, and allow-lists mmengine's checkpoint contents
for torch's safe ``weights_only`` loading (see ``g2sd_mm.engine.safe_checkpoint``);
``Runner.resume`` no longer executes config text stored in a checkpoint
(``g2sd_mm.engine.safe_resume``).
"""
from .engine import register_safe_globals
from .engine.safe_resume import install_safe_resume
from .version import __version__

register_safe_globals()
install_safe_resume()

from . import models  # noqa: E402,F401  (registers the components)
from . import datasets  # noqa: E402,F401

__all__ = ['__version__']
