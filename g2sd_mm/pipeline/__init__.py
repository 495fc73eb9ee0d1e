"""Pipeline runner: a config of stages (train / test / command / file) run in order.

* :mod:`.spec`: reading a pipeline config, variables and template resolution;
* :mod:`.stages`: what each stage kind produces, when it is complete, its command;
* :mod:`.launch`: the train/test command for one process, ``dist_*.sh`` or slurm;
* :mod:`.runner`: running the plan (skip, resume, logs, timing, errors).
"""
from .launch import Launcher
from .runner import RunOptions, run_pipeline
from .spec import Pipeline, PipelineError, Stage, load_pipeline

__all__ = ['Launcher', 'RunOptions', 'run_pipeline', 'Pipeline', 'PipelineError', 'Stage',
           'load_pipeline']
