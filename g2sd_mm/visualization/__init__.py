"""Pictures of model predictions drawn with the OpenMMLab visualisers.

Not imported by ``import g2sd_mm``: it pulls in matplotlib and the three
task libraries' inference APIs, which training does not need.
"""
from .prediction_grid import GridLayout, ModelSpec, build_prediction_grid, save_grid
from .tasks import TASKS, TaskSpec

__all__ = ['GridLayout', 'ModelSpec', 'build_prediction_grid', 'save_grid', 'TASKS', 'TaskSpec']
