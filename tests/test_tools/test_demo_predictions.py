"""tools/analysis/demo_predictions.py: the ground truth / teacher / student-only /
G2SD-student picture, on the shapes data with randomly initialised demo models."""
import importlib
import os.path as osp
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from PIL import Image

from g2sd_mm.checkpoint import CheckpointError
from g2sd_mm.demo.shapes import DET_METAINFO, SHAPE_PALETTE
from g2sd_mm.visualization import TASKS, ModelSpec, build_prediction_grid, save_grid
from g2sd_mm.visualization import prediction_grid
from g2sd_mm.visualization.panels import PanelPainter

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis'))
import demo_predictions  # noqa: E402

CONFIGS = dict(
    cls=osp.join(ROOT, 'configs/cls/vit-64d-p8-mae-ft_1xb32-15e_shapes.py'),
    det=osp.join(ROOT, 'configs/det/vitdet_mask-rcnn_vit-64d-mae_simple-fpn_1xb2-450it_shapes.py'),
    seg=osp.join(ROOT, 'configs/seg/upernet_vit-64d-mae_feature2pyramid_1xb4-600it_shapes.py'))
NAMES = ('teacher', 'student only', 'G2SD student')
PANEL = 256  # 64 px classification images x4, 128 px scenes x2
# a prediction of the G2SD student's detector, drawn instead of its real one:
# 'square' (label 1) in x1, y1, x2, y2 of the 128 px image
FAKE_BOX = (20.0, 30.0, 70.0, 90.0)


def _save_random_models(task, seeds, folder):
    """Checkpoints (``{'state_dict', 'meta'}``) of randomly initialised models of
    the task's config, one per seed."""
    cfg = Config.fromfile(CONFIGS[task])
    cfg.model.backbone.init_cfg = None
    if task == 'cls':
        cfg.model.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
    scope = TASKS[task].scope
    paths = []
    for seed in seeds:
        with DefaultScope.overwrite_default_scope(scope):
            torch.manual_seed(seed)
            model = importlib.import_module(f'{scope}.registry').MODELS.build(cfg.model)
        paths.append(str(folder / f'{task}_{seed}.pth'))
        torch.save({'state_dict': model.state_dict(), 'meta': {'seed': seed}}, paths[-1])
    return paths


@pytest.fixture(scope='module', autouse=True)
def _one_thread():
    """Tiny models: one thread is several times faster than a pool on a shared CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def checkpoints(tmp_path_factory):
    """Three different random checkpoints per task (teacher architecture)."""
    folder = tmp_path_factory.mktemp('predpic_ckpts')
    return {task: _save_random_models(task, range(3), folder) for task in CONFIGS}


def _fake_detection(pred):
    from mmengine.structures import InstanceData
    masks = torch.zeros(1, 128, 128, dtype=torch.bool)
    masks[0, 40:80, 30:60] = True
    pred.pred_instances = InstanceData(
        bboxes=torch.tensor([FAKE_BOX]), labels=torch.tensor([1]), scores=torch.tensor([0.9]),
        masks=masks)
    return pred


@pytest.fixture(scope='module')
def layout(checkpoints, shapes_root):
    """The grid of all three tasks, 2 images each; the G2SD student's detections
    replaced by :data:`FAKE_BOX`."""
    real_predict = prediction_grid.predict

    def predict(spec, model, img_paths):
        preds = real_predict(spec, model, img_paths)
        if spec.name == 'det' and model.tag == NAMES[2]:
            preds = [_fake_detection(p) for p in preds]
        return preds

    real_build = prediction_grid.build_task_model

    def build(spec, cfg, checkpoint, *args):
        model = real_build(spec, cfg, checkpoint, *args)
        model.tag = NAMES[checkpoints[spec.name].index(checkpoint)]
        return model

    models = {task: [ModelSpec(CONFIGS[task], c) for c in ckpts]
              for task, ckpts in checkpoints.items()}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(prediction_grid, 'predict', predict)
        mp.setattr(prediction_grid, 'build_task_model', build)
        return build_prediction_grid(models, NAMES, data_root=shapes_root, num_images=2,
                                     panel_size=PANEL)


def test_layout_rows_columns_and_png_size(layout, tmp_path):
    assert layout.columns == ['ground truth', *NAMES]
    assert layout.tasks == ['cls'] * 2 + ['det'] * 2 + ['seg'] * 2
    assert layout.rows[0] == 'classification\n00000.png'
    assert layout.rows[2] == 'detection\n00000.png'
    assert layout.rows[5] == 'segmentation\n00001.png'
    assert all(p.shape == (PANEL, PANEL, 3) for row in layout.panels for p in row)
    out = save_grid(layout, str(tmp_path / 'sub' / 'predictions.png'))
    size = Image.open(out).size
    assert size == layout.size_px
    # 150 px row labels + 4 cells of 256 + 3 gaps of 6 + 6; 40 px titles + 6 cells + 5 gaps + 6
    assert size == (150 + 4 * PANEL + 3 * 6 + 6, 40 + 6 * PANEL + 5 * 6 + 6)
    Image.open(out).convert('RGB').save('/tmp/predpic_sample.png')


def test_ground_truth_panels_differ_from_predictions(layout):
    for task, row in zip(layout.tasks, layout.panels):
        gt = row[0].astype(int)
        for pred in row[1:]:
            changed = np.any(gt != pred, axis=-1).mean()
            assert changed > 0.001, task


def test_det_panel_shows_a_predicted_box(layout):
    """The fake 'square' box of the G2SD column is drawn in the square colour
    (mmdet draws box edges with alpha 0.8 over the image)."""
    row = layout.panels[layout.tasks.index('det')]
    x1, y1, x2, y2 = (int(v * PANEL / 128) for v in FAKE_BOX)
    colour = np.array(SHAPE_PALETTE[1])
    panel, plain = row[3].astype(float), row[2].astype(float)
    left_edge = panel[y1 + 20:y2 - 5, x1]  # below the label text
    plain_edge = plain[y1 + 20:y2 - 5, x1]
    assert np.abs(left_edge - colour).max(axis=-1).mean() < 60
    assert np.abs(plain_edge - colour).max(axis=-1).mean() > 80
    assert np.any(panel != plain)


def test_low_scoring_detection_is_not_drawn(shapes_root):
    from mmdet.structures import DetDataSample
    image = np.full((128, 128, 3), 128, np.uint8)
    pred = _fake_detection(DetDataSample())
    pred.pred_instances.scores[:] = 0.4
    with DefaultScope.overwrite_default_scope('mmdet'):
        painter = PanelPainter(TASKS['det'], DET_METAINFO, panel_size=PANEL, score_thr=0.5)
        drawn = painter.draw(image, pred, ground_truth=False)
        pred.pred_instances.scores[:] = 0.6
        drawn_above = painter.draw(image, pred, ground_truth=False)
    assert drawn.shape == (PANEL, PANEL, 3) and np.all(drawn == 128)
    assert np.any(drawn_above != 128)


def test_tool_writes_a_classification_picture(checkpoints, shapes_root, tmp_path, capsys):
    out = tmp_path / 'cls.png'
    argv = ['--cls']
    for ckpt in checkpoints['cls']:
        argv += [CONFIGS['cls'], ckpt]
    code = demo_predictions.main(argv + ['--data-root', shapes_root, '--num-images', '1',
                                         '--panel-size', '128', '--out', str(out)])
    assert code == 0
    width, height = 150 + 4 * 128 + 3 * 6 + 6, 40 + 128 + 6
    assert f'{out}: 1 rows x 4 columns (ground truth, teacher, student only, G2SD student), ' \
        f'{width}x{height} px' in capsys.readouterr().out
    assert Image.open(out).size == (width, height)


def test_missing_files_are_named(checkpoints, shapes_root, tmp_path, capsys):
    missing = str(tmp_path / 'nope.pth')
    cls = [CONFIGS['cls'], checkpoints['cls'][0]] * 2 + [CONFIGS['cls'], missing]
    out = tmp_path / 'out.png'
    code = demo_predictions.main(['--cls', *cls, '--data-root', shapes_root, '--out', str(out)])
    assert code == 2
    assert f'error: cls G2SD student checkpoint not found: {missing}' in capsys.readouterr().err
    missing_cfg = str(tmp_path / 'nope.py')
    code = demo_predictions.main(['--det', missing_cfg, checkpoints['det'][0], *cls[2:4],
                                  *cls[:2], '--names', 'a', 'b', 'c', '--out', str(out)])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith('error: det a config: config ') and missing_cfg in err
    assert not out.exists()


def test_checkpoint_of_another_model_names_both_files(checkpoints, shapes_root):
    models = {'cls': [ModelSpec(CONFIGS['cls'], checkpoints['det'][0])]}
    with pytest.raises(CheckpointError) as info:
        build_prediction_grid(models, names=['teacher'], data_root=shapes_root, num_images=1)
    message = str(info.value)
    assert message.startswith(f'{checkpoints["det"][0]} does not fit the model of '
                              f'{CONFIGS["cls"]} (ImageClassifier): ')
    assert 'missing key(s)' in message and 'unexpected key(s)' in message


def test_wrong_number_of_paths_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        demo_predictions.main(['--seg', 'a.py', 'a.pth', '--out', 'x.png'])
    assert info.value.code == 2
    assert '--seg takes a config and a checkpoint for each of the 3 models' in \
        capsys.readouterr().err
