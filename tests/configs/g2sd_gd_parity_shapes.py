"""The tiny GD config with a deterministic pipeline, for the 1-process vs 2-process
parity test: no random crop or flip (they draw per process, so a 2-process run
augments differently from a 1-process run), and the logged losses are averaged
over the processes (mmengine logs rank 0's share of the batch otherwise). As in
the full-size configs, each rank seeds its generators differently
(``diff_rank_seed``): the per-sample masks must not depend on that."""
_base_ = ['../../configs/pretrain/g2sd_vit-tiny-p8_gd_1xb32-8e_shapes.py']

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(64, 64)),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
custom_hooks = [dict(type='RandomStateHook'), dict(type='MeanLogVarsHook')]
default_hooks = dict(logger=dict(interval=1))
log_processor = dict(window_size=1)
randomness = dict(seed=0, diff_rank_seed=True)
