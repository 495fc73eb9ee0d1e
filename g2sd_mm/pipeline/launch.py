"""The command of a stage: one process, ``tools/dist_*.sh`` (N processes) or slurm.

=====================  ================================================================
launcher               train / test command
=====================  ================================================================
default (1 process)    ``python tools/train.py CONFIG --work-dir D [--resume] ...``,
                       ``python tools/test.py CONFIG CKPT --work-dir D --out-metrics M``
``gpus=N`` (N > 1)     ``bash tools/dist_train.sh CONFIG N ...``,
                       ``bash tools/dist_test.sh CONFIG CKPT N ...``
``slurm``              ``GPUS=N bash tools/slurm_train.sh PARTITION JOB CONFIG D ...``,
                       ``GPUS=N bash tools/slurm_test.sh PARTITION JOB CONFIG CKPT ...``
=====================  ================================================================

``command`` stages always run in one process: ``python SCRIPT.py ARGS`` (a
``.py`` script) or the command as written.
"""
import sys
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from .cfg_options import option_args

Command = Tuple[List[str], Dict[str, str]]  # argv, extra environment


@dataclass
class Launcher:
    kind: str = 'none'  # 'none' (local: one process, or dist_*.sh when gpus > 1) or 'slurm'
    gpus: Optional[int] = None
    partition: Optional[str] = None
    python: str = sys.executable

    def __post_init__(self):
        if self.kind not in ('none', 'slurm'):
            raise ValueError(f'launcher {self.kind!r}: expected none or slurm')
        if self.kind == 'slurm' and not self.partition:
            raise ValueError('the slurm launcher needs a partition (--partition P)')
        if self.gpus is not None and self.gpus < 1:
            raise ValueError(f'gpus must be >= 1, got {self.gpus}')

    def _slurm_env(self) -> Dict[str, str]:
        if self.gpus is None:
            return {}
        return dict(GPUS=str(self.gpus), GPUS_PER_NODE=str(min(self.gpus, 8)))

    def _options(self, stage) -> List[str]:
        opts = option_args(stage.spec.get('cfg_options') or {}, f'stage {stage.name!r}')
        return [str(a) for a in stage.spec.get('args', [])] + (
            ['--cfg-options', *opts] if opts else [])

    def train(self, stage, resume: bool) -> Command:
        config, work_dir = stage.spec['config'], stage.fields['work_dir']
        resume_arg = ['--resume'] if resume else []
        if self.kind == 'slurm':
            return (['bash', 'tools/slurm_train.sh', self.partition, stage.name, config, work_dir,
                     *resume_arg, *self._options(stage)], self._slurm_env())
        if self.gpus and self.gpus > 1:
            return (['bash', 'tools/dist_train.sh', config, str(self.gpus), '--work-dir',
                     work_dir, *resume_arg, *self._options(stage)], {})
        return ([self.python, 'tools/train.py', config, '--work-dir', work_dir, *resume_arg,
                 *self._options(stage)], {})

    def test(self, stage) -> Command:
        config, ckpt = stage.spec['config'], stage.spec['checkpoint']
        outs = ['--work-dir', stage.fields['work_dir'], '--out-metrics', stage.fields['metrics']]
        if self.kind == 'slurm':
            return (['bash', 'tools/slurm_test.sh', self.partition, stage.name, config, ckpt,
                     *outs, *self._options(stage)], self._slurm_env())
        if self.gpus and self.gpus > 1:
            return (['bash', 'tools/dist_test.sh', config, ckpt, str(self.gpus), *outs,
                     *self._options(stage)], {})
        return [self.python, 'tools/test.py', config, ckpt, *outs, *self._options(stage)], {}

    def command(self, stage) -> Command:
        cmd = [str(a) for a in stage.spec['cmd']]
        if cmd[0].endswith('.py'):
            cmd = [self.python] + cmd
        return cmd, {}

    def build(self, stage, resume: bool = False) -> Optional[Command]:
        """The command of ``stage`` (None for a ``file`` stage: nothing to run)."""
        if stage.type == 'train':
            return self.train(stage, resume)
        if stage.type == 'test':
            return self.test(stage)
        if stage.type == 'command':
            return self.command(stage)
        return None
