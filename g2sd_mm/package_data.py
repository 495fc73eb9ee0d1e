"""Where g2sd_mm's configs and tools are, and ``package::path`` config names.

An installed g2sd_mm carries the repository's ``configs/`` and ``tools/`` in
``g2sd_mm/.mim/`` (copies in a wheel, symlinks in an editable install), as the
OpenMMLab packages do; a plain checkout on ``PYTHONPATH`` has them next to the
package. ``package::dir/file.py`` names a config shipped by an installed
package: ``g2sd_mm::det/g2sd_vits_maskrcnn.py``,
``mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py``.
"""
import difflib
import importlib.util
import os
import os.path as osp
from typing import List

PACKAGE_DIR = osp.dirname(osp.abspath(__file__))
MIM_DIR = osp.join(PACKAGE_DIR, '.mim')
_CHECKOUT_DIR = osp.dirname(PACKAGE_DIR)
SCOPE = 'g2sd_mm'


def shipped_path(name: str) -> str:
    """``configs``/``tools``/... of g2sd_mm: in ``.mim`` when installed, else in the checkout."""
    for root in (MIM_DIR, _CHECKOUT_DIR):
        path = osp.join(root, name)
        if osp.exists(path):
            return path
    raise FileNotFoundError(f'g2sd_mm ships no {name!r}: looked in {MIM_DIR} (installed '
                            f'package) and {_CHECKOUT_DIR} (checkout); reinstall g2sd_mm')


def package_configs_dir(package: str) -> str:
    """The config folder an installed OpenMMLab-style package ships (``<pkg>/.mim/configs``)."""
    if package == SCOPE:
        return shipped_path('configs')
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f'package {package!r} (named in a "{package}::" config path) '
                                  'is not installed')
    configs = osp.join(list(spec.submodule_search_locations)[0], '.mim', 'configs')
    if not osp.isdir(configs):
        raise FileNotFoundError(f'package {package!r} ships no configs: {configs} does not '
                                'exist (an editable install of it may lack the .mim links)')
    return configs


def _close_configs(configs_dir: str, rel_path: str, n: int = 5) -> List[str]:
    names = []
    for root, _, files in os.walk(configs_dir, followlinks=True):
        names += [osp.relpath(osp.join(root, f), configs_dir) for f in files if f.endswith('.py')]
    close = difflib.get_close_matches(rel_path, names, n=n, cutoff=0.5)
    stem = osp.basename(rel_path)
    return close or difflib.get_close_matches(
        stem, [osp.basename(name) for name in names], n=n, cutoff=0.5)


def resolve_config_path(path: str) -> str:
    """An existing config file for ``path``.

    * ``package::dir/file.py``: ``dir/file.py`` in the configs that package
      ships (``g2sd_mm``, ``mmdet``, ``mmseg``, ``mmpretrain``, ...);
    * any other path: relative to the working directory; a relative path that
      is not there and starts with ``configs/`` is looked up in g2sd_mm's own
      configs (so ``configs/det/...`` means the same in a checkout and in an
      installed package).

    Raises:
        FileNotFoundError: naming the package, the folder searched and the
            closest config names.
    """
    if '::' in path:
        package, _, rel_path = path.partition('::')
        if not package or not rel_path or '::' in rel_path:
            raise ValueError(f'config path {path!r}: expected "package::dir/file.py"')
        configs_dir = package_configs_dir(package)
        found = osp.join(configs_dir, rel_path)
        if osp.isfile(found):
            return found
        close = _close_configs(configs_dir, rel_path)
        hint = f'; closest: {", ".join(close)}' if close else ''
        raise FileNotFoundError(f'config {path!r} not found: package {package!r} ships its '
                                f'configs in {configs_dir}, which has no {rel_path!r}{hint}')
    if osp.isfile(path):
        return path
    looked = [osp.abspath(path)]
    parts = osp.normpath(path).split(os.sep)
    if not osp.isabs(path) and parts[0] == 'configs' and len(parts) > 1:
        configs_dir = shipped_path('configs')
        found = osp.join(configs_dir, *parts[1:])
        if osp.isfile(found):
            return found
        looked.append(found)
    raise FileNotFoundError(f'config {path!r} not found (looked for {" and ".join(looked)})')


def register_config_package() -> None:
    """Let mmengine resolve ``g2sd_mm::dir/file.py`` (``_base_``, ``mmengine.hub.get_config``).

    mmengine accepts ``package::`` only for the packages of its
    ``MODULE2PACKAGE`` table and looks the package up with
    ``get_installed_path``, which finds an editable install's dist-info but not
    its source folder. The entry therefore names this module, which
    ``get_installed_path`` locates through the import system: its folder is the
    package folder, in a wheel install, an editable install and a checkout on
    ``PYTHONPATH`` alike; mmengine then reads ``.mim/model-index.yml`` and
    ``.mim/configs/`` there.
    """
    from mmengine.config import utils as config_utils
    config_utils.MODULE2PACKAGE.setdefault(SCOPE, __name__)
