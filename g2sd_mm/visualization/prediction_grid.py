"""A grid picture of the same test images under the ground truth and several
models, for any of classification, detection and segmentation.

Rows are (task, image), columns the ground truth and then one per model::

                    ground truth   teacher   student only   G2SD student
    detection 00000     ...          ...         ...            ...

Every model is built from its config and a checkpoint that must fit it
exactly; the images are the first ones of the first model's test dataset.
"""
import copy
import io
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.registry import DefaultScope

from ..checkpoint import atomic_write
from ..package_data import resolve_config_path
from .ground_truth import Sample, read_samples
from .panels import PanelPainter
from .task_models import build_task_model, predict
from .tasks import TASKS, TaskSpec, load_task_config

__all__ = ['ModelSpec', 'GridLayout', 'build_prediction_grid', 'render_grid', 'save_grid',
           'DEFAULT_NAMES', 'TASK_DATA_DIRS']

DEFAULT_NAMES = ('teacher', 'student only', 'G2SD student')
GROUND_TRUTH = 'ground truth'
# sub-folders of the shapes data root (g2sd_mm/demo/shapes.py)
TASK_DATA_DIRS = {name: spec.data_dir for name, spec in TASKS.items()}

# figure geometry, in pixels (saved at DPI pixels per inch)
DPI = 100
LABEL_PX = 150  # row labels, left of the panels
TITLE_PX = 40  # column titles, above the panels
GAP_PX = 6  # between panels
MARGIN_PX = 6  # right and bottom


@dataclass(frozen=True)
class ModelSpec:
    """A model: its config (file or ``package::dir/file.py``) and checkpoint."""
    config: str
    checkpoint: str


@dataclass
class GridLayout:
    """The panels of the picture and its geometry.

    ``panels[r][c]`` is the RGB picture of row ``rows[r]`` and column
    ``columns[c]`` (column 0: the ground truth).
    """
    columns: List[str]
    rows: List[str] = field(default_factory=list)
    tasks: List[str] = field(default_factory=list)
    panels: List[List[np.ndarray]] = field(default_factory=list)

    @property
    def cell_px(self) -> int:
        """Side of a grid cell: the largest panel side."""
        return max(max(p.shape[:2]) for row in self.panels for p in row)

    @property
    def size_px(self) -> Tuple[int, int]:
        """``(width, height)`` of the saved picture in pixels."""
        cols, rows, cell = len(self.columns), len(self.rows), self.cell_px
        return (LABEL_PX + cols * cell + (cols - 1) * GAP_PX + MARGIN_PX,
                TITLE_PX + rows * cell + (rows - 1) * GAP_PX + MARGIN_PX)


def _check_files(models: Dict[str, Sequence[ModelSpec]], names: Sequence[str]) -> None:
    """Every config and checkpoint exists (before any model is built)."""
    for task, specs in models.items():
        for name, spec in zip(names, specs):
            role = f'{task} {name}'
            try:
                resolve_config_path(spec.config)
            except FileNotFoundError as e:
                raise FileNotFoundError(f'{role} config: {e}') from e
            if not osp.isfile(spec.checkpoint):
                raise FileNotFoundError(f'{role} checkpoint not found: {spec.checkpoint}')


def build_prediction_grid(models: Dict[str, Sequence[ModelSpec]],
                          names: Sequence[str] = DEFAULT_NAMES,
                          data_root: Optional[str] = None,
                          num_images: int = 3,
                          score_thr: float = 0.5,
                          device: str = 'cpu',
                          panel_size: int = 384) -> GridLayout:
    """Draw the ground truth and every model's predictions.

    Args:
        models (dict): Task (``cls``, ``det``, ``seg``) to one
            :class:`ModelSpec` per name in ``names``.
        names (Sequence[str]): Column titles of the models.
        data_root (str, optional): Root of the shapes data
            (``g2sd_mm/demo/shapes.py``); each task's test dataset is read from
            its sub-folder (:data:`TASK_DATA_DIRS`). ``None``: the configs'
            own ``data_root``.
        num_images (int): Images per task: the first ones of the test dataset.
        score_thr (float): Detections scoring at most this are not drawn.
        device (str): Where the models run.
        panel_size (int): Approximate side of a panel (images are enlarged by
            an integer factor to reach it).

    Raises:
        FileNotFoundError: A config or checkpoint is missing (named).
        CheckpointError: A checkpoint does not fit its config (both named).
        ValueError: No task, an unknown task, or a task without one model per
            name.
    """
    if not models:
        raise ValueError(f'no task given: pass models for any of {sorted(TASKS)}')
    unknown = sorted(set(models) - set(TASKS))
    if unknown:
        raise ValueError(f'unknown task(s) {unknown}; choose from {sorted(TASKS)}')
    for task, specs in models.items():
        if len(specs) != len(names):
            raise ValueError(f'{task}: {len(specs)} model(s) for {len(names)} name(s) '
                             f'{list(names)}')
    _check_files(models, names)
    layout = GridLayout(columns=[GROUND_TRUTH, *names])
    for task in (t for t in TASKS if t in models):
        spec = TASKS[task]
        root = None if data_root is None else osp.join(data_root, spec.data_dir)
        with DefaultScope.overwrite_default_scope(spec.scope):
            samples, rows = _task_rows(spec, models[task], names, root, num_images,
                                       score_thr, device, panel_size)
        for sample, row in zip(samples, rows):
            layout.rows.append(f'{spec.title}\n{osp.basename(sample.img_path)}')
            layout.tasks.append(task)
            layout.panels.append(row)
    return layout


def _task_rows(spec: TaskSpec, model_specs: Sequence[ModelSpec], names: Sequence[str],
               data_root: Optional[str], num_images: int, score_thr: float, device: str,
               panel_size: int) -> Tuple[List[Sample], List[List[np.ndarray]]]:
    """The samples of one task and their panels (ground truth, then one per
    model); run under the task library's default scope."""
    configs = {}  # reading a config takes seconds: once per file

    def config(path: str, role: str):
        if path not in configs:
            configs[path] = load_task_config(path, data_root, role)
        return copy.deepcopy(configs[path])

    cfg = config(model_specs[0].config, f'{spec.name} {names[0]}')
    samples, metainfo = read_samples(spec, cfg, num_images)
    painter = PanelPainter(spec, metainfo, panel_size, score_thr)
    rows = [[painter.draw(s.image, s.gt, ground_truth=True)] for s in samples]
    for name, model_spec in zip(names, model_specs):
        cfg = config(model_spec.config, f'{spec.name} {name}')
        model = build_task_model(spec, cfg, model_spec.checkpoint, model_spec.config, metainfo,
                                 device)
        preds = predict(spec, model, [s.img_path for s in samples])
        for row, sample, pred in zip(rows, samples, preds):
            row.append(painter.draw(sample.image, pred, ground_truth=False))
        del model
    return samples, rows


def render_grid(layout: GridLayout) -> bytes:
    """The PNG bytes of ``layout`` (``layout.size_px`` pixels)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    width, height = layout.size_px
    cell = layout.cell_px
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    for r, row in enumerate(layout.panels):
        top = TITLE_PX + r * (cell + GAP_PX)
        for c, panel in enumerate(row):
            left = LABEL_PX + c * (cell + GAP_PX)
            ax = fig.add_axes([left / width, 1 - (top + cell) / height, cell / width,
                               cell / height])
            ax.imshow(panel, interpolation='nearest')
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(layout.columns[c], fontsize=13, pad=6)
            if c == 0:
                ax.set_ylabel(layout.rows[r], fontsize=11, labelpad=8)
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=DPI)
    return buf.getvalue()


def save_grid(layout: GridLayout, out: str) -> str:
    """Write the picture of ``layout`` to ``out`` (PNG, atomically); returns ``out``."""
    if not layout.panels:
        raise ValueError('nothing to draw: the layout has no rows')
    atomic_write(out, render_grid(layout))
    return out
