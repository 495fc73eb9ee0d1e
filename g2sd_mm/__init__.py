"""g2sd_mm: G2SD distillation for the OpenMMLab 2.x stack.

Importing the package registers every component into the registry of the
library whose runner uses it, and allow-lists mmengine's checkpoint contents
for torch's safe ``weights_only`` loading and routes every checkpoint mmengine
reads through g2sd_mm's safe reader (see ``g2sd_mm.checkpoint.schemes``);
``Runner.resume`` no longer executes config text stored in a checkpoint
(``g2sd_mm.engine.safe_resume``).
"""
from .checkpoint import register_safe_loading
from .engine.safe_resume import install_safe_resume
from .version import __version__

register_safe_loading()
install_safe_resume()

from . import engine  # noqa: E402,F401  (registers hooks, loops, optimizer parts)
from . import models  # noqa: E402,F401  (registers the components)
from . import datasets  # noqa: E402,F401

__all__ = ['__version__']
