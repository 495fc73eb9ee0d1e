"""g2sd_mm: G2SD distillation for the OpenMMLab 2.x stack.

Importing the package registers every component into the registry of the
library whose runner uses it, and allow-lists mmengine's checkpoint contents
for torch's safe ``weights_only`` loading and routes every checkpoint mmengine
reads through g2sd_mm's safe reader (see ``g2sd_mm.checkpoint.schemes``);
``Runner.resume`` no longer executes config text stored in a checkpoint
(``g2sd_mm.engine.safe_resume``). It also lets mmengine resolve
``g2sd_mm::dir/file.py`` config names (see ``g2sd_mm.package_data``) and
refuses an OpenMMLab stack outside the tested versions
(``g2sd_mm.version.TESTED_VERSIONS``).
"""
from .version import __version__, check_versions

check_versions()

from .checkpoint import register_safe_loading  # noqa: E402
from .engine.safe_resume import install_safe_resume  # noqa: E402
from .package_data import register_config_package  # noqa: E402

register_safe_loading()
install_safe_resume()
register_config_package()

from . import engine  # noqa: E402,F401  (registers hooks, loops, optimizer parts)
from . import models  # noqa: E402,F401  (registers the components)
from . import datasets  # noqa: E402,F401
from . import registry  # noqa: E402,F401  (the g2sd_mm:: config scope)

__all__ = ['__version__']
