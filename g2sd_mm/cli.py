"""Command-line entry points for the tools g2sd_mm ships.

The tools are scripts (``tools/*.py`` in a checkout, ``g2sd_mm/.mim/tools`` in
an installed package); these entry points run the shipped copy, so an
installed g2sd_mm needs no checkout::

    g2sd-train CONFIG [train.py args]          # python -m g2sd_mm train ...
    g2sd-test CONFIG CHECKPOINT [test.py args] # python -m g2sd_mm test ...
    g2sd-dist-train CONFIG NPROC [args]        # torchrun, as tools/dist_train.sh
    g2sd-dist-test CONFIG CHECKPOINT NPROC [args]
    g2sd-tool model_converters/extract_student.py IN OUT   # any other tool
    g2sd-tool --list

``CONFIG`` may be ``g2sd_mm::det/g2sd_vits_maskrcnn.py`` (or another
package's ``package::path``) or a file.
"""
import os
import runpy
import subprocess
import sys
from typing import List, Optional

from .package_data import shipped_path

USAGE = ('usage: python -m g2sd_mm {train,test,dist-train,dist-test} ARGS...\n'
         '       python -m g2sd_mm TOOL ARGS...   (TOOL: a path under tools/, see --list)')


def list_tools() -> List[str]:
    """The shipped tools, as paths relative to the tools folder."""
    root = shipped_path('tools')
    found = []
    for folder, _, files in os.walk(root, followlinks=True):
        found += [os.path.relpath(os.path.join(folder, f), root) for f in files
                  if f.endswith(('.py', '.sh')) and not f.startswith('_')]
    return sorted(found)


def tool_path(name: str) -> str:
    """The shipped script ``name`` (``train.py``, ``model_converters/extract_student.py``,
    or a unique file name such as ``extract_student``)."""
    root = shipped_path('tools')
    path = os.path.join(root, name)
    if os.path.isfile(path):
        return path
    stem = os.path.splitext(os.path.basename(name))[0]
    matches = [t for t in list_tools() if os.path.splitext(os.path.basename(t))[0] == stem]
    if len(matches) == 1:
        return os.path.join(root, matches[0])
    raise SystemExit(f'g2sd_mm: no tool {name!r} in {root}'
                     + (f' (ambiguous: {", ".join(matches)})' if matches else '')
                     + f'; tools: {", ".join(list_tools())}')


def run_script(path: str, argv: List[str]) -> None:
    """Run a Python tool as ``__main__`` with ``argv``, in this process."""
    sys.argv = [path] + list(argv)
    runpy.run_path(path, run_name='__main__')


def _torchrun(script: str, nproc: str, argv: List[str]) -> int:
    """``tools/dist_train.sh``: torchrun on this node, the tool with ``--launcher pytorch``."""
    env = os.environ
    cmd = [sys.executable, '-m', 'torch.distributed.run',
           f'--nnodes={env.get("NNODES", "1")}', f'--node_rank={env.get("NODE_RANK", "0")}',
           f'--master_addr={env.get("MASTER_ADDR", "127.0.0.1")}',
           f'--nproc_per_node={nproc}', f'--master_port={env.get("PORT", "29500")}',
           script] + argv
    return subprocess.call(cmd)


def _split(argv: Optional[List[str]], count: int, usage: str) -> List[str]:
    argv = sys.argv[1:] if argv is None else list(argv)
    if len(argv) < count or argv[0] in ('-h', '--help'):
        raise SystemExit(f'usage: {usage}')
    return argv


def train(argv: Optional[List[str]] = None) -> None:
    """``g2sd-train CONFIG [args]``: tools/train.py."""
    run_script(tool_path('train.py'), sys.argv[1:] if argv is None else list(argv))


def test(argv: Optional[List[str]] = None) -> None:
    """``g2sd-test CONFIG CHECKPOINT [args]``: tools/test.py."""
    run_script(tool_path('test.py'), sys.argv[1:] if argv is None else list(argv))


def dist_train(argv: Optional[List[str]] = None) -> None:
    """``g2sd-dist-train CONFIG NPROC [args]``: tools/train.py in NPROC processes."""
    argv = _split(argv, 2, 'g2sd-dist-train CONFIG NPROC [train.py args]')
    config, nproc, rest = argv[0], argv[1], argv[2:]
    sys.exit(_torchrun(tool_path('train.py'), nproc, [config, '--launcher', 'pytorch'] + rest))


def dist_test(argv: Optional[List[str]] = None) -> None:
    """``g2sd-dist-test CONFIG CHECKPOINT NPROC [args]``: tools/test.py in NPROC processes."""
    argv = _split(argv, 3, 'g2sd-dist-test CONFIG CHECKPOINT NPROC [test.py args]')
    config, ckpt, nproc, rest = argv[0], argv[1], argv[2], argv[3:]
    sys.exit(_torchrun(tool_path('test.py'), nproc,
                       [config, ckpt, '--launcher', 'pytorch'] + rest))


def tool(argv: Optional[List[str]] = None) -> None:
    """``g2sd-tool TOOL [args]``: any shipped tool; ``--list`` prints them."""
    argv = _split(argv, 1, 'g2sd-tool TOOL [args]  (g2sd-tool --list)')
    if argv[0] == '--list':
        print('\n'.join(list_tools()))
        return
    path = tool_path(argv[0])
    if path.endswith('.sh'):
        sys.exit(subprocess.call(['bash', path] + argv[1:]))
    run_script(path, argv[1:])


COMMANDS = {'train': train, 'test': test, 'dist-train': dist_train, 'dist-test': dist_test}


def main(argv: Optional[List[str]] = None) -> None:
    """``python -m g2sd_mm COMMAND|TOOL [args]``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ('-h', '--help'):
        print(USAGE)
        return
    command = COMMANDS.get(argv[0])
    if command is not None:
        command(argv[1:])
    else:
        tool(argv)
