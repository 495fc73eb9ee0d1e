"""g2sd_mm's version and the OpenMMLab versions it is tested with."""
from importlib import metadata
from typing import Dict, List, Tuple

__version__ = '0.1.0'

# distribution -> (lowest tested, first untested) version; the pinned stack of
# requirements/runtime.txt is the lower end. All five are imported by g2sd_mm.
TESTED_VERSIONS: Dict[str, Tuple[str, str]] = {
    'mmengine': ('0.10.7', '0.11.0'),
    'mmcv': ('2.1.0', '2.2.0'),
    'mmpretrain': ('1.2.0', '1.3.0'),
    'mmdet': ('3.3.0', '3.4.0'),
    'mmsegmentation': ('1.2.2', '1.3.0'),
}


def version_problems(versions: Dict[str, str] = None) -> List[str]:
    """One line per OpenMMLab package outside :data:`TESTED_VERSIONS`.

    Args:
        versions: distribution -> installed version (``None``: not installed);
            read from the environment when not given.
    """
    from mmengine.utils import digit_version
    problems = []
    for dist, (low, high) in TESTED_VERSIONS.items():
        if versions is not None:
            installed = versions.get(dist)
        else:
            try:
                installed = metadata.version(dist)
            except metadata.PackageNotFoundError:
                installed = None
        wanted = f'{dist}>={low},<{high}'
        if installed is None:
            problems.append(f'{dist} is not installed (g2sd_mm needs {wanted})')
        elif not digit_version(low) <= digit_version(installed) < digit_version(high):
            problems.append(f'{dist}=={installed} is installed, g2sd_mm {__version__} is '
                            f'tested with {wanted}')
    return problems


def check_versions() -> None:
    """Raise ``ImportError`` naming every OpenMMLab package out of the tested range."""
    problems = version_problems()
    if problems:
        raise ImportError('g2sd_mm cannot run with this OpenMMLab stack: ' + '; '.join(problems)
                          + '. Install the pinned versions: pip install -r requirements/'
                          'runtime.txt (or the g2sd_mm wheel with its dependencies).')
