"""Deterministic procedural "shapes" data for demos and smoke tests.

Every image shows coloured geometric objects (:data:`SHAPE_CLASSES`) on a
textured background (a smooth colour gradient, faint stripes and pixel
noise).  The data is written in exactly the on-disk formats the stock
OpenMMLab 2.x dataset classes read, so no custom dataset class is needed::

    <root>/
      shapes_meta.json                  generator settings (see below)
      cls/                              mmpretrain ``CustomDataset``
        train/<class>/<idx>.png           one object per image
        val/<class>/<idx>.png
        meta/train.txt, meta/val.txt      "<class>/<idx>.png <label>" lines
        meta/classes.txt                  one class name per line
      coco/                             mmdet ``CocoDataset``
        train/<idx>.png, val/<idx>.png    1-4 non-overlapping objects
        annotations/instances_{train,val}.json
      seg/                              mmseg ``BaseSegDataset``
        images/{train,val}/<idx>.png      the same scenes as ``coco/``
        annotations/{train,val}/<idx>.png uint8 label maps, 0 = background,
                                          1..4 = SHAPE_CLASSES

Determinism
    Each image has its own random generator, seeded from ``(seed, task
    kind, split, index)`` only.  Changing a count therefore never changes the
    images that exist under both counts, and two runs with the same settings
    write byte-identical files (for a given numpy / Pillow / zlib build).
    The scenes of ``coco/`` and ``seg/`` come from the same seeds, so the
    image ``coco/train/00003.png`` is identical to
    ``seg/images/train/00003.png`` and its instances make up the label map
    ``seg/annotations/train/00003.png``.

Exact masks
    Objects are polygons (a circle is a regular 32-gon).  The vertices are
    rounded to two decimals *before* drawing, the COCO ``segmentation`` holds
    exactly these vertices, and a pixel belongs to an object iff its centre
    ``(x + 0.5, y + 0.5)`` lies inside the polygon (even-odd rule).  Objects
    never overlap or touch (placements whose circumscribed circles come
    closer than :data:`_MIN_GAP` pixels are rejected), so each polygon is the
    full, unoccluded outline of its object.  ``bbox`` is the polygon's extent
    and ``area`` the object's pixel count.  pycocotools rasterises polygons
    with its own convention, so a decoded COCO mask may differ from the
    drawn object (and the seg label map) in a few boundary pixels.

Regeneration
    ``<root>/shapes_meta.json`` records the settings each task was written
    with.  When called again with ``overwrite=False`` (the default), a task
    whose recorded settings equal the requested ones and whose files are
    complete is skipped; a task with different settings is regenerated (its
    folder is deleted first, so no stale files remain).  A task folder that
    exists but is not recorded in ``shapes_meta.json`` is not ours: it is
    only replaced when ``overwrite=True``, otherwise ``FileExistsError`` is
    raised.  ``overwrite=True`` always regenerates the requested tasks.
"""
import json
import os
import os.path as osp
import shutil
import zlib

import numpy as np
from PIL import Image

__all__ = [
    'SHAPE_CLASSES', 'SHAPE_PALETTE', 'CLS_METAINFO', 'DET_METAINFO',
    'SEG_CLASSES', 'SEG_PALETTE', 'SEG_METAINFO', 'TASKS', 'GENERATOR_VERSION',
    'generate_shapes', 'make_cls_image', 'make_scene', 'polygon_to_mask'
]

#: Bumped whenever the drawing code changes the written bytes.
GENERATOR_VERSION = 1

SHAPE_CLASSES = ('circle', 'square', 'triangle', 'star')
SHAPE_PALETTE = [(220, 20, 60), (0, 130, 230), (250, 170, 30), (60, 180, 75)]

CLS_METAINFO = dict(classes=SHAPE_CLASSES)
DET_METAINFO = dict(classes=SHAPE_CLASSES, palette=SHAPE_PALETTE)

SEG_CLASSES = ('background', ) + SHAPE_CLASSES
SEG_PALETTE = [[0, 0, 0]] + [list(c) for c in SHAPE_PALETTE]
SEG_METAINFO = dict(classes=SEG_CLASSES, palette=SEG_PALETTE)

TASKS = ('cls', 'det', 'seg')
SPLITS = ('train', 'val')
META_FILE = 'shapes_meta.json'

_CIRCLE_VERTICES = 32
_MIN_GAP = 3.0  # pixels between the circumscribed circles of two objects
_MAX_OBJECTS = 4
_PLACEMENT_TRIES = 50
# Smallest image side the object placement works for.
_MIN_SIZE = 16

# ---------------------------------------------------------------------------
# Random generators
# ---------------------------------------------------------------------------


def _rng(seed, kind, split, index):
    """Independent generator per image; depends on nothing else."""
    key = zlib.crc32(f'{kind}/{split}'.encode('ascii'))
    return np.random.default_rng(np.random.SeedSequence([seed, key, index]))


# ---------------------------------------------------------------------------
# Drawing
# ---------------------------------------------------------------------------


def _background(rng, size):
    """Muted smooth gradient + faint stripes + pixel noise, uint8 HxWx3."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / max(size - 1, 1)
    angle = rng.uniform(0, 2 * np.pi)
    t = np.cos(angle) * xx + np.sin(angle) * yy
    t = (t - t.min()) / max(t.max() - t.min(), 1e-6)
    # Low-saturation end colours keep the saturated objects visible.
    grey = rng.uniform(70, 180, size=2)
    tint = rng.uniform(-25, 25, size=(2, 3))
    c0, c1 = grey[0] + tint[0], grey[1] + tint[1]
    img = c0[None, None] * (1 - t[..., None]) + c1[None, None] * t[..., None]

    s_angle = rng.uniform(0, np.pi)
    freq = rng.uniform(3, 10)
    phase = rng.uniform(0, 2 * np.pi)
    stripes = np.sin(2 * np.pi * freq *
                     (np.cos(s_angle) * xx + np.sin(s_angle) * yy) + phase)
    img += rng.uniform(4, 14) * stripes[..., None]
    img += rng.normal(0, rng.uniform(2, 6), size=img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _object_colour(rng):
    """A saturated, bright RGB colour (float, 0..255)."""
    h = rng.uniform(0, 6)
    s = rng.uniform(0.65, 1.0)
    v = rng.uniform(0.7, 1.0)
    i = int(h) % 6
    f = h - int(h)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    rgb = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v),
           (v, p, q)][i]
    return np.array(rgb) * 255


def _polygon(label, cx, cy, radius, rotation):
    """Vertices (N x 2, float, rounded to 0.01) of a shape whose vertices all
    lie within ``radius`` of ``(cx, cy)``."""
    name = SHAPE_CLASSES[label]
    if name == 'circle':
        n, radii = _CIRCLE_VERTICES, np.full(_CIRCLE_VERTICES, radius)
    elif name == 'square':
        n, radii = 4, np.full(4, radius)
    elif name == 'triangle':
        n, radii = 3, np.full(3, radius)
    elif name == 'star':
        n, radii = 10, np.where(np.arange(10) % 2 == 0, radius, 0.45 * radius)
    else:  # pragma: no cover - SHAPE_CLASSES is fixed
        raise KeyError(name)
    theta = rotation + 2 * np.pi * np.arange(n) / n
    pts = np.stack([cx + radii * np.cos(theta), cy + radii * np.sin(theta)],
                   axis=1)
    return np.round(pts, 2)


def polygon_to_mask(points, height, width):
    """Boolean mask of the pixels whose centre lies inside the polygon.

    Args:
        points (np.ndarray): N x 2 vertices ``(x, y)`` in pixel coordinates
            (pixel ``(i, j)`` spans ``[i, i + 1) x [j, j + 1)``).
        height (int), width (int): Mask shape.
    """
    mask = np.zeros((height, width), dtype=bool)
    x0 = max(int(np.floor(points[:, 0].min())), 0)
    x1 = min(int(np.ceil(points[:, 0].max())) + 1, width)
    y0 = max(int(np.floor(points[:, 1].min())), 0)
    y1 = min(int(np.ceil(points[:, 1].max())) + 1, height)
    if x0 >= x1 or y0 >= y1:
        return mask
    py, px = np.mgrid[y0:y1, x0:x1].astype(np.float64) + 0.5
    inside = np.zeros(px.shape, dtype=bool)
    xs, ys = points[:, 0], points[:, 1]
    for k in range(len(points)):
        xa, ya = xs[k], ys[k]
        xb, yb = xs[k - 1], ys[k - 1]
        if ya == yb:
            continue
        crosses = (ya > py) != (yb > py)
        x_at = xa + (py - ya) * (xb - xa) / (yb - ya)
        inside ^= crosses & (px < x_at)
    mask[y0:y1, x0:x1] = inside
    return mask


def _paint(rng, img, mask):
    """Fill ``mask`` with a saturated colour with a soft shading ramp."""
    colour = _object_colour(rng)
    ys, xs = np.nonzero(mask)
    shade = rng.uniform(-0.15, 0.15) * (xs - xs.mean()) / max(np.ptp(xs), 1)
    pix = colour[None] * (1 + shade[:, None])
    pix += rng.normal(0, 3, size=pix.shape)
    img[ys, xs] = np.clip(np.rint(pix), 0, 255).astype(np.uint8)


def make_cls_image(seed, split, index, size=64):
    """One classification image and its label.

    The label is ``index % len(SHAPE_CLASSES)`` (balanced classes); the
    object's position, size, rotation and colours are random.

    Returns:
        tuple: ``(image uint8 HxWx3 RGB, label int)``.
    """
    rng = _rng(seed, 'cls', split, index)
    label = index % len(SHAPE_CLASSES)
    img = _background(rng, size)
    radius = rng.uniform(0.22, 0.4) * size
    margin = radius + 1
    cx, cy = rng.uniform(margin, size - margin, size=2)
    pts = _polygon(label, cx, cy, radius, rng.uniform(0, 2 * np.pi))
    _paint(rng, img, polygon_to_mask(pts, size, size))
    return img, label


def make_scene(seed, split, index, size=128):
    """One scene with 1-4 non-overlapping objects.

    Returns:
        tuple: ``(image uint8 HxWx3 RGB, objects)`` where ``objects`` is a
        list of dicts with ``label`` (0-based), ``polygon`` (N x 2 float
        array) and ``mask`` (bool HxW).
    """
    rng = _rng(seed, 'scene', split, index)
    img = _background(rng, size)
    wanted = int(rng.integers(1, _MAX_OBJECTS + 1))
    r_min, r_max = max(0.08 * size, 4.0), max(0.18 * size, 5.0)
    placed = []  # (cx, cy, r)
    objects = []
    for _ in range(_PLACEMENT_TRIES):
        if len(placed) == wanted:
            break
        radius = rng.uniform(r_min, r_max)
        margin = radius + 1
        cx, cy = rng.uniform(margin, size - margin, size=2)
        if any(np.hypot(cx - ox, cy - oy) < radius + orad + _MIN_GAP
               for ox, oy, orad in placed):
            continue
        placed.append((cx, cy, radius))
        label = int(rng.integers(len(SHAPE_CLASSES)))
        pts = _polygon(label, cx, cy, radius, rng.uniform(0, 2 * np.pi))
        mask = polygon_to_mask(pts, size, size)
        _paint(rng, img, mask)
        objects.append(dict(label=label, polygon=pts, mask=mask))
    return img, objects


# ---------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------


def _save_png(array, path):
    # Explicit settings: the PNG bytes depend only on the pixels.
    Image.fromarray(array).save(path, format='PNG', optimize=False,
                                compress_level=1)


def _write_text(path, lines):
    with open(path, 'w', encoding='utf-8', newline='\n') as f:
        f.write(''.join(line + '\n' for line in lines))


def _write_json(path, obj):
    with open(path, 'w', encoding='utf-8', newline='\n') as f:
        json.dump(obj, f, separators=(',', ':'))


def _write_cls(task_root, seed, size, counts):
    classes = list(SHAPE_CLASSES)
    os.makedirs(osp.join(task_root, 'meta'))
    _write_text(osp.join(task_root, 'meta', 'classes.txt'), classes)
    for split in SPLITS:
        for name in classes:
            os.makedirs(osp.join(task_root, split, name))
        lines = []
        for index in range(counts[split]):
            img, label = make_cls_image(seed, split, index, size)
            rel = f'{classes[label]}/{index:05d}.png'
            _save_png(img, osp.join(task_root, split, rel))
            lines.append(f'{rel} {label}')
        _write_text(osp.join(task_root, 'meta', f'{split}.txt'), lines)


def _coco_dict(split, images, annotations):
    return dict(
        info=dict(description=f'procedural shapes ({split})',
                  version=str(GENERATOR_VERSION)),
        licenses=[],
        images=images,
        annotations=annotations,
        categories=[
            dict(id=i + 1, name=name, supercategory='shape')
            for i, name in enumerate(SHAPE_CLASSES)
        ])


def _write_scenes(root, seed, size, counts, det, seg):
    """Write the scene-based tasks (``coco/`` and/or ``seg/``)."""
    det_root, seg_root = osp.join(root, 'coco'), osp.join(root, 'seg')
    if det:
        os.makedirs(osp.join(det_root, 'annotations'))
    for split in SPLITS:
        images, annotations = [], []
        if det:
            os.makedirs(osp.join(det_root, split))
        if seg:
            os.makedirs(osp.join(seg_root, 'images', split))
            os.makedirs(osp.join(seg_root, 'annotations', split))
        for index in range(counts[split]):
            img, objects = make_scene(seed, split, index, size)
            file_name = f'{index:05d}.png'
            if det:
                _save_png(img, osp.join(det_root, split, file_name))
                image_id = index + 1
                images.append(dict(id=image_id, file_name=file_name,
                                   width=size, height=size))
                for obj in objects:
                    pts = obj['polygon']
                    x0, y0 = pts.min(axis=0)
                    x1, y1 = pts.max(axis=0)
                    annotations.append(dict(
                        id=len(annotations) + 1,
                        image_id=image_id,
                        category_id=obj['label'] + 1,
                        bbox=[round(float(v), 2)
                              for v in (x0, y0, x1 - x0, y1 - y0)],
                        area=int(obj['mask'].sum()),
                        iscrowd=0,
                        segmentation=[[float(v) for v in pts.reshape(-1)]]))
            if seg:
                _save_png(img, osp.join(seg_root, 'images', split, file_name))
                label_map = np.zeros((size, size), dtype=np.uint8)
                for obj in objects:
                    label_map[obj['mask']] = obj['label'] + 1
                _save_png(label_map,
                          osp.join(seg_root, 'annotations', split, file_name))
        if det:
            _write_json(
                osp.join(det_root, 'annotations', f'instances_{split}.json'),
                _coco_dict(split, images, annotations))


# ---------------------------------------------------------------------------
# Settings bookkeeping
# ---------------------------------------------------------------------------

_TASK_DIRS = dict(cls='cls', det='coco', seg='seg')


def _expected_files(root, task, settings):
    """Files whose presence shows a task was written completely."""
    d = osp.join(root, _TASK_DIRS[task])
    if task == 'cls':
        return [osp.join(d, 'meta', f) for f in
                ('classes.txt', 'train.txt', 'val.txt')]
    if task == 'det':
        return [osp.join(d, 'annotations', f'instances_{s}.json')
                for s in SPLITS]
    last = {s: f'{settings["num_" + s] - 1:05d}.png' for s in SPLITS}
    return [osp.join(d, sub, s, last[s]) for s in SPLITS
            for sub in ('images', 'annotations')]


def _task_settings(task, seed, cls_size, scene_size, counts):
    size = cls_size if task == 'cls' else scene_size
    c = counts['cls' if task == 'cls' else 'scene']
    return dict(version=GENERATOR_VERSION, seed=seed, size=size,
                num_train=c['train'], num_val=c['val'])


def _read_meta(root, ignore_errors=False):
    path = osp.join(root, META_FILE)
    if not osp.isfile(path):
        return {}
    try:
        with open(path, encoding='utf-8') as f:
            meta = json.load(f)
    except (OSError, ValueError) as e:
        if ignore_errors:
            return {}
        raise ValueError(f'cannot read the shapes settings file {path} '
                         f'({e}); pass overwrite=True to replace it') from e
    return meta.get('tasks', {}) if isinstance(meta, dict) else {}


def _write_meta(root, tasks_meta):
    meta = dict(generator='g2sd_mm.demo.shapes', version=GENERATOR_VERSION,
                classes=list(SHAPE_CLASSES), tasks=tasks_meta)
    tmp = osp.join(root, META_FILE + '.tmp')
    with open(tmp, 'w', encoding='utf-8', newline='\n') as f:
        json.dump(meta, f, indent=2, sort_keys=True)
        f.write('\n')
    os.replace(tmp, osp.join(root, META_FILE))


def _check_positive(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f'{name} must be an integer, got {value!r}')
    if value < minimum:
        if value <= 0:
            raise ValueError(f'{name} must be positive, got {value}')
        raise ValueError(f'{name} must be at least {minimum}, got {value}')
    return int(value)


def _result_paths(root, task, settings):
    """Paths and counts of a written task."""
    d = osp.join(root, _TASK_DIRS[task])
    counts = {s: settings['num_' + s] for s in SPLITS}
    if task == 'cls':
        out = dict(data_root=d,
                   classes_file=osp.join(d, 'meta', 'classes.txt'))
        for s in SPLITS:
            out[s] = dict(data_prefix=osp.join(d, s),
                          ann_file=osp.join(d, 'meta', f'{s}.txt'),
                          num_images=counts[s])
        return out
    if task == 'det':
        out = dict(data_root=d)
        for s in SPLITS:
            ann_file = osp.join(d, 'annotations', f'instances_{s}.json')
            with open(ann_file, encoding='utf-8') as f:
                num_inst = len(json.load(f)['annotations'])
            out[s] = dict(img_dir=osp.join(d, s), ann_file=ann_file,
                          num_images=counts[s], num_instances=num_inst)
        return out
    out = dict(data_root=d)
    for s in SPLITS:
        out[s] = dict(img_dir=osp.join(d, 'images', s),
                      ann_dir=osp.join(d, 'annotations', s),
                      num_images=counts[s])
    return out


# ---------------------------------------------------------------------------
# Public entry point
# ---------------------------------------------------------------------------


def generate_shapes(root,
                    tasks=TASKS,
                    seed=0,
                    cls_size=64,
                    scene_size=128,
                    num_cls_train=400,
                    num_cls_val=100,
                    num_scene_train=200,
                    num_scene_val=50,
                    overwrite=False):
    """Write the procedural shapes data set under ``root``.

    Args:
        root (str): Output folder (created if missing).
        tasks (Sequence[str]): Any of ``'cls'`` (``<root>/cls``), ``'det'``
            (``<root>/coco``, also instance segmentation) and ``'seg'``
            (``<root>/seg``).
        seed (int): Base seed (non-negative).
        cls_size (int): Side of the classification images.
        scene_size (int): Side of the detection / segmentation scenes.
        num_cls_train, num_cls_val (int): Classification images per split
            (classes are balanced: image ``i`` has label ``i % 4``).
        num_scene_train, num_scene_val (int): Scenes per split.
        overwrite (bool): Regenerate the requested tasks even if the folder
            already holds them with the same settings, and replace task
            folders not written by this generator.

    Returns:
        dict: ``root``, ``meta_file``, ``generated`` / ``skipped`` (task
        lists) and one entry per requested task with its ``data_root`` and,
        per split, the paths (``ann_file``, ``data_prefix`` / ``img_dir`` /
        ``ann_dir``) and counts (``num_images``, ``num_instances``).

    Raises:
        ValueError: A size or count is not a positive integer (the message
            names the argument; sizes must be at least 16), the seed is
            negative, a task is unknown, or ``shapes_meta.json`` is
            unreadable and ``overwrite`` is False.
        FileExistsError: A task folder exists that this generator did not
            write, and ``overwrite`` is False.
    """
    if isinstance(tasks, str):
        tasks = (tasks, )
    tasks = tuple(dict.fromkeys(tasks))
    if not tasks:
        raise ValueError('tasks must name at least one of ' + str(TASKS))
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise ValueError(f'tasks: unknown {unknown}, choose from {TASKS}')
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) \
            or seed < 0:
        raise ValueError(f'seed must be a non-negative integer, got {seed!r}')
    seed = int(seed)
    cls_size = _check_positive('cls_size', cls_size, _MIN_SIZE)
    scene_size = _check_positive('scene_size', scene_size, _MIN_SIZE)
    counts = dict(
        cls=dict(train=_check_positive('num_cls_train', num_cls_train),
                 val=_check_positive('num_cls_val', num_cls_val)),
        scene=dict(train=_check_positive('num_scene_train', num_scene_train),
                   val=_check_positive('num_scene_val', num_scene_val)))
    if not root:
        raise ValueError('root must be a non-empty path')
    root = osp.abspath(os.fspath(root))
    os.makedirs(root, exist_ok=True)

    recorded = _read_meta(root, ignore_errors=overwrite)
    wanted = {t: _task_settings(t, seed, cls_size, scene_size, counts)
              for t in tasks}
    todo, skipped = [], []
    for task in tasks:
        task_dir = osp.join(root, _TASK_DIRS[task])
        rec = recorded.get(task)
        complete = (rec is not None and rec.get('complete')
                    and rec.get('settings') == wanted[task]
                    and all(osp.isfile(p) for p in
                            _expected_files(root, task, wanted[task])))
        if complete and not overwrite:
            skipped.append(task)
            continue
        if osp.lexists(task_dir):
            if rec is None and not overwrite:
                raise FileExistsError(
                    f'{task_dir} exists but was not written by the shapes '
                    f'generator (no record in {osp.join(root, META_FILE)}); '
                    'pass overwrite=True to replace it')
            if osp.isdir(task_dir) and not osp.islink(task_dir):
                shutil.rmtree(task_dir)
            else:
                os.remove(task_dir)
        todo.append(task)

    # Record the tasks as in progress first: an interrupted run leaves
    # folders that the next call recognises as its own and rewrites.
    for task in todo:
        recorded[task] = dict(settings=wanted[task], complete=False)
    if todo:
        _write_meta(root, recorded)

    result = dict(root=root, meta_file=osp.join(root, META_FILE),
                  generated=list(todo), skipped=skipped)
    if 'cls' in todo:
        _write_cls(osp.join(root, 'cls'), seed, cls_size, counts['cls'])
    if 'det' in todo or 'seg' in todo:
        _write_scenes(root, seed, scene_size, counts['scene'],
                      det='det' in todo, seg='seg' in todo)
    for task in todo:
        recorded[task]['complete'] = True
    if todo:
        _write_meta(root, recorded)

    for task in tasks:
        result[task] = _result_paths(root, task, wanted[task])
    return result
