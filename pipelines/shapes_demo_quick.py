"""``pipelines/shapes_demo.py`` at smoke-test size (``make demo-quick``): fewer
images, one epoch / two iterations per training. It checks that every stage
runs end to end; its numbers are not meaningful (the table says so).

    python tools/pipeline.py pipelines/shapes_demo_quick.py
"""
_base_ = ['./shapes_demo.py']

work_dir = 'work_dirs/demo-quick'
data_root = 'data/shapes-quick'
table_note = ('Smoke-test schedule (pipelines/shapes_demo_quick.py: one epoch or two '
              'iterations per training): these numbers only show that every stage runs, '
              'they are not meaningful.')

# schedule overrides, merged into each stage's cfg_options
_epochs = {'train_cfg.max_epochs': 1, 'default_hooks.checkpoint.interval': 1,
           'default_hooks.logger.interval': 1}
_epochs_val = {**_epochs, 'train_cfg.val_interval': 1}
_iters = {'train_cfg.max_iters': 2, 'train_cfg.val_interval': 2,
          'default_hooks.checkpoint.interval': 2, 'default_hooks.logger.interval': 1}

stages = dict(
    data=dict(cmd=['tools/misc/make_shapes_data.py', '--out', '{data_root}',
                   '--num-cls-train', '64', '--num-cls-val', '32',
                   '--num-scene-train', '16', '--num-scene-val', '8']),
    mae_teacher=dict(cfg_options=_epochs),
    gd=dict(cfg_options=_epochs),
    cls_teacher=dict(cfg_options=_epochs_val),
    cls_student=dict(cfg_options=_epochs_val),
    cls_g2sd=dict(cfg_options=_epochs_val),
    det_teacher=dict(cfg_options=_iters),
    det_student=dict(cfg_options=_iters),
    det_g2sd=dict(cfg_options=_iters),
    seg_teacher=dict(cfg_options=_iters),
    seg_student=dict(cfg_options=_iters),
    seg_g2sd=dict(cfg_options=_iters),
)
