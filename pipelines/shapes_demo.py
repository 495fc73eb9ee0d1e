"""The G2SD demo on the procedural shapes data, CPU-sized (``make demo``).

    python tools/pipeline.py pipelines/shapes_demo.py [--dry-run] [--force]

Stage 0 pretrains a tiny MAE teacher, stage 1 distils a tiny ViT student from
it (generic distillation) and exports it; then, for classification, detection
and segmentation, the MAE teacher is fine-tuned, the student is trained alone
(baseline) and with G2SD specific distillation, and all three are tested. The
retention table (``{work_dir}/retention.md``), the loss curves and a picture of
predictions close the run. Config names and data options are variables and
per-stage ``cfg_options`` below: a derived pipeline (``_base_``) changes them
in one line each (see ``shapes_demo_quick.py``).
"""
work_dir = 'work_dirs/demo'
data_root = 'data/shapes'
seed = 0

mae_cfg = 'configs/pretrain/mae_vit-tiny-p8_1xb32-15e_shapes.py'
gd_cfg = 'configs/pretrain/g2sd_vit-tiny-p8_gd_1xb32-8e_shapes.py'
cls_teacher_cfg = 'configs/cls/vit-64d-p8-mae-ft_1xb32-15e_shapes.py'
cls_student_cfg = 'configs/cls/vit-32d-p8-g2sd-gd_1xb32-10e_shapes.py'
cls_g2sd_cfg = 'configs/cls/g2sd_vit-32d_cls_1xb32-10e_shapes.py'
# the extracted G2SD classification student keeps its distillation token
cls_g2sd_student_cfg = 'configs/cls/vit-32d-p8-distilled_g2sd-gd_1xb32-10e_shapes.py'
det_teacher_cfg = 'configs/det/vitdet_mask-rcnn_vit-64d-mae_simple-fpn_1xb2-450it_shapes.py'
det_student_cfg = 'configs/det/vitdet_mask-rcnn_vit-32d-g2sd_simple-fpn_1xb2-300it_shapes.py'
det_g2sd_cfg = 'configs/det/g2sd_vit-32d_mask-rcnn_1xb2-300it_shapes.py'
seg_teacher_cfg = 'configs/seg/upernet_vit-64d-mae_feature2pyramid_1xb4-600it_shapes.py'
seg_student_cfg = 'configs/seg/upernet_vit-32d-g2sd_feature2pyramid_1xb4-400it_shapes.py'
seg_g2sd_cfg = 'configs/seg/g2sd_vit-32d_upernet_1xb4-400it_shapes.py'
table_note = ''  # a line printed above the retention table

# test stages of the retention table (teacher, student only, G2SD), also read by
# tools/analysis/demo_seeds.py
results = dict(
    cls=['cls_teacher_test', 'cls_student_test', 'cls_g2sd_test'],
    det=['det_teacher_test', 'det_student_test', 'det_g2sd_test'],
    seg=['seg_teacher_test', 'seg_student_test', 'seg_g2sd_test'])

_splits = ('train_dataloader', 'val_dataloader', 'test_dataloader')
cls_data = {f'{k}.dataset.data_root': '{data_root}/cls/' for k in _splits}
det_data = {
    **{f'{k}.dataset.data_root': '{data_root}/coco/' for k in _splits},
    **{f'{k}.ann_file': '{data_root}/coco/annotations/instances_val.json'
       for k in ('val_evaluator', 'test_evaluator')}}
seg_data = {f'{k}.dataset.data_root': '{data_root}/seg/' for k in _splits}
no_init = {'model.backbone.init_cfg': None}  # tests load the whole trained model

stages = dict(
    # the generator itself skips the parts already written with the same settings
    data=dict(type='command', cmd=['tools/misc/make_shapes_data.py', '--out', '{data_root}',
                                   '--num-cls-train', '2000', '--num-cls-val', '5000',
                                   '--num-scene-train', '600', '--num-scene-val', '100']),
    # stage 0 and stage 1
    mae_teacher=dict(type='train', config='{mae_cfg}', after=['data'],
                     cfg_options={'train_dataloader.dataset.data_root': '{data_root}/cls'}),
    gd=dict(type='train', config='{gd_cfg}',
            cfg_options={'train_dataloader.dataset.data_root': '{data_root}/cls',
                         'model.teacher_ckpt': '{mae_teacher.checkpoint}'}),
    gd_export=dict(type='command',
                   cmd=['tools/model_converters/g2sd_gd_export.py', '{gd.checkpoint}',
                        '{gd.work_dir}/export/vit-tiny-p8_shapes'],
                   outputs=['{gd.work_dir}/export/vit-tiny-p8_shapes_backbone.pth',
                            '{gd.work_dir}/export/vit-tiny-p8_shapes_timm.pth']),
    # classification
    cls_teacher=dict(type='train', config='{cls_teacher_cfg}', cfg_options={
        **cls_data, 'model.backbone.init_cfg.checkpoint': '{mae_teacher.checkpoint}'}),
    cls_student=dict(type='train', config='{cls_student_cfg}', cfg_options={
        **cls_data, 'model.backbone.init_cfg.checkpoint': '{gd_export.output}'}),
    cls_g2sd=dict(type='train', config='{cls_g2sd_cfg}', cfg_options={
        **cls_data, 'model.teacher_ckpt': '{cls_teacher.checkpoint}',
        'model.student.backbone.init_cfg.checkpoint': '{gd_export.output}'}),
    cls_g2sd_extract=dict(type='command',
                          cmd=['tools/model_converters/extract_student.py',
                               '{cls_g2sd.checkpoint}', '{cls_g2sd.work_dir}/student_only.pth'],
                          outputs=['{cls_g2sd.work_dir}/student_only.pth']),
    cls_teacher_test=dict(type='test', config='{cls_teacher_cfg}',
                          checkpoint='{cls_teacher.checkpoint}',
                          cfg_options={**cls_data, **no_init}),
    cls_student_test=dict(type='test', config='{cls_student_cfg}',
                          checkpoint='{cls_student.checkpoint}',
                          cfg_options={**cls_data, **no_init}),
    cls_g2sd_test=dict(type='test', config='{cls_g2sd_student_cfg}',
                       checkpoint='{cls_g2sd_extract.output}',
                       cfg_options={**cls_data, **no_init}),
    # detection
    det_teacher=dict(type='train', config='{det_teacher_cfg}', cfg_options={
        **det_data, 'model.backbone.init_cfg.checkpoint': '{mae_teacher.checkpoint}'}),
    det_student=dict(type='train', config='{det_student_cfg}', cfg_options={
        **det_data, 'model.backbone.init_cfg.checkpoint': '{gd_export.output}'}),
    det_g2sd=dict(type='train', config='{det_g2sd_cfg}', cfg_options={
        **det_data, 'model.teacher_ckpt': '{det_teacher.checkpoint}',
        'model.student.backbone.init_cfg.checkpoint': '{gd_export.output}'}),
    det_g2sd_extract=dict(type='command',
                          cmd=['tools/model_converters/extract_student.py',
                               '{det_g2sd.checkpoint}', '{det_g2sd.work_dir}/student_only.pth'],
                          outputs=['{det_g2sd.work_dir}/student_only.pth']),
    det_teacher_test=dict(type='test', config='{det_teacher_cfg}',
                          checkpoint='{det_teacher.checkpoint}',
                          cfg_options={**det_data, **no_init}),
    det_student_test=dict(type='test', config='{det_student_cfg}',
                          checkpoint='{det_student.checkpoint}',
                          cfg_options={**det_data, **no_init}),
    det_g2sd_test=dict(type='test', config='{det_student_cfg}',
                       checkpoint='{det_g2sd_extract.output}',
                       cfg_options={**det_data, **no_init}),
    # segmentation
    seg_teacher=dict(type='train', config='{seg_teacher_cfg}', cfg_options={
        **seg_data, 'model.backbone.init_cfg.checkpoint': '{mae_teacher.checkpoint}'}),
    seg_student=dict(type='train', config='{seg_student_cfg}', cfg_options={
        **seg_data, 'model.backbone.init_cfg.checkpoint': '{gd_export.output}'}),
    seg_g2sd=dict(type='train', config='{seg_g2sd_cfg}', cfg_options={
        **seg_data, 'model.teacher_ckpt': '{seg_teacher.checkpoint}',
        'model.student.backbone.init_cfg.checkpoint': '{gd_export.output}'}),
    seg_g2sd_extract=dict(type='command',
                          cmd=['tools/model_converters/extract_student.py',
                               '{seg_g2sd.checkpoint}', '{seg_g2sd.work_dir}/student_only.pth'],
                          outputs=['{seg_g2sd.work_dir}/student_only.pth']),
    seg_teacher_test=dict(type='test', config='{seg_teacher_cfg}',
                          checkpoint='{seg_teacher.checkpoint}',
                          cfg_options={**seg_data, **no_init}),
    seg_student_test=dict(type='test', config='{seg_student_cfg}',
                          checkpoint='{seg_student.checkpoint}',
                          cfg_options={**seg_data, **no_init}),
    seg_g2sd_test=dict(type='test', config='{seg_student_cfg}',
                       checkpoint='{seg_g2sd_extract.output}',
                       cfg_options={**seg_data, **no_init}),
    # summary: retention table (tests of `results`), loss curves, predictions
    table=dict(type='command',
               cmd=['tools/analysis/g2sd_table.py',
                    *[a for task, tests in results.items()
                      for a in [f'--{task}', *[f'{{{t}.metrics}}' for t in tests]]],
                    '--note', '{table_note}', '--out', '{work_dir}/retention.md'],
               outputs=['{work_dir}/retention.md']),
    loss_curves=dict(type='command',
                     cmd=['tools/analysis/plot_loss.py', '{mae_teacher.work_dir}', '{gd.work_dir}',
                          *[f'{{{t}_{k}.work_dir}}' for t in ('cls', 'det', 'seg')
                            for k in ('teacher', 'student', 'g2sd')],
                          '--labels', 'stage 0: MAE teacher (pixels)',
                          'stage 1: generic distillation',
                          *[f'{t} {k}' for t in ('cls', 'det', 'seg')
                            for k in ('teacher', 'student', 'g2sd')],
                          '--out', '{work_dir}/loss_curves.png'],
                     outputs=['{work_dir}/loss_curves.png']),
    predictions=dict(type='command',
                     cmd=['tools/analysis/demo_predictions.py',
                          '--cls', '{cls_teacher_cfg}', '{cls_teacher.checkpoint}',
                          '{cls_student_cfg}', '{cls_student.checkpoint}',
                          '{cls_g2sd_student_cfg}', '{cls_g2sd_extract.output}',
                          '--det', '{det_teacher_cfg}', '{det_teacher.checkpoint}',
                          '{det_student_cfg}', '{det_student.checkpoint}',
                          '{det_student_cfg}', '{det_g2sd_extract.output}',
                          '--seg', '{seg_teacher_cfg}', '{seg_teacher.checkpoint}',
                          '{seg_student_cfg}', '{seg_student.checkpoint}',
                          '{seg_student_cfg}', '{seg_g2sd_extract.output}',
                          '--data-root', '{data_root}', '--out', '{work_dir}/predictions.png'],
                     outputs=['{work_dir}/predictions.png']),
)

# run order, which is also the priority of ready stages with `--jobs N`: the
# stage-1 chain and the teachers first, the students next, tests and summary last
_order = ['data', 'mae_teacher', 'gd', 'gd_export',
          'det_teacher', 'seg_teacher', 'cls_teacher',
          'det_student', 'seg_student', 'cls_student',
          'det_g2sd', 'seg_g2sd', 'cls_g2sd']
stages = {**{k: stages[k] for k in _order}, **{k: v for k, v in stages.items() if k not in _order}}
