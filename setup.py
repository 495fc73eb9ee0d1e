"""Install g2sd_mm (``pip install .`` or ``pip install -e .``); pinned stack: requirements/

As the OpenMMLab packages do, the repository's ``configs/`` and ``tools/`` are
shipped inside the package under ``g2sd_mm/.mim/``: copied into wheels (and so
into ``pip install .``), symlinked into the checkout by an editable install.
mmengine's ``package::path`` config resolution and ``mim train/test`` read
them there.
"""
import os
import os.path as osp
import shutil
import sys

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

ROOT = osp.dirname(osp.abspath(__file__))
# what ``g2sd_mm/.mim`` holds, relative to the repository root
MIM_FILES = ('configs', 'tools', 'model-index.yml')
EDITABLE_COMMANDS = ('develop', 'editable_wheel')


def read_version():
    namespace = {}
    with open(osp.join(ROOT, 'g2sd_mm', 'version.py')) as f:
        exec(f.read(), namespace)
    return namespace['__version__']


def read_requirements(name):
    path = osp.join(ROOT, 'requirements', name)
    with open(path) as f:
        return [line.split('#')[0].strip() for line in f
                if line.split('#')[0].strip()]


def _remove(path):
    if osp.islink(path) or osp.isfile(path):
        os.remove(path)
    elif osp.isdir(path):
        shutil.rmtree(path)


def link_mim_files():
    """Editable install: ``g2sd_mm/.mim/<name>`` -> ``../../<name>`` (relative symlinks)."""
    mim = osp.join(ROOT, 'g2sd_mm', '.mim')
    os.makedirs(mim, exist_ok=True)
    for name in MIM_FILES:
        target = osp.join(mim, name)
        _remove(target)
        os.symlink(osp.join('..', '..', name), target)


class BuildPyWithMim(build_py):
    """``build_py`` that also copies configs/, tools/ and model-index.yml into
    ``<build>/g2sd_mm/.mim`` (never into the source tree), so every wheel and
    non-editable install carries them."""

    def run(self):
        super().run()
        if getattr(self, 'editable_mode', False):
            return
        mim = osp.join(self.build_lib, 'g2sd_mm', '.mim')
        _remove(mim)
        os.makedirs(mim)
        for name in MIM_FILES:
            src = osp.join(ROOT, name)
            if not osp.exists(src):
                raise FileNotFoundError(f'{src} is missing: it is shipped as g2sd_mm/.mim/{name}')
            if osp.isdir(src):
                shutil.copytree(src, osp.join(mim, name),
                                ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
            else:
                shutil.copy2(src, osp.join(mim, name))


if any(cmd in sys.argv for cmd in EDITABLE_COMMANDS):
    link_mim_files()

setup(
    name='g2sd_mm',
    version=read_version(),
    description='G2SD (generic-to-specific distillation of masked autoencoders) '
    'for the OpenMMLab 2.x stack',
    long_description=open(osp.join(ROOT, 'README.md')).read()
    if osp.exists(osp.join(ROOT, 'README.md')) else '',
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    packages=find_packages(exclude=('configs', 'configs.*', 'tools', 'tools.*', 'tests',
                                    'tests.*', 'data')),
    python_requires='>=3.9',
    install_requires=read_requirements('runtime.txt'),
    # openmim (requirements/mim.txt) is left out on purpose: installed with its
    # dependencies it downgrades setuptools; tools/setup_env.sh installs it.
    extras_require={'tests': read_requirements('tests.txt')},
    entry_points={'console_scripts': [
        'g2sd-train = g2sd_mm.cli:train',
        'g2sd-test = g2sd_mm.cli:test',
        'g2sd-dist-train = g2sd_mm.cli:dist_train',
        'g2sd-dist-test = g2sd_mm.cli:dist_test',
        'g2sd-tool = g2sd_mm.cli:tool',
    ]},
    cmdclass={'build_py': BuildPyWithMim},
    zip_safe=False,
)
