"""G2SD as in the paper: ViT-S students of MAE ViT-B teachers on ImageNet-1k,
COCO and ADE20K, starting from the published teachers.

    # put the published files into {downloads}/ (see the `hint` of each file stage)
    python tools/pipeline.py pipelines/vit-s_in1k_coco_ade20k.py --gpus 8 [--dry-run]
    python tools/pipeline.py pipelines/vit-s_in1k_coco_ade20k.py --launcher slurm \
        --partition P --gpus 8

1. the published teachers are converted with g2sd_mm's converters (the MAE
   files load as they are: ``mae_pretrain_vit_base_full.pth`` is the generic
   distillation teacher, ``mae_finetuned_vit_base.pth`` the classification
   teacher; it is converted only to be tested with ``tools/test.py``);
2. stage 1: generic distillation on ImageNet-1k, then the student export;
3. stage 2 for classification, detection and segmentation: the student trained
   alone (baseline) and with G2SD specific distillation from the teacher; the
   G2SD student extracted;
4. every teacher and student tested; the retention table.

The data sets are read where the configs expect them (``data/imagenet``,
``data/coco``, ``data/ade/ADEChallengeData2016``); the recipes (schedules,
batch sizes for 8 GPUs) are the configs' (``docs/recipes.md``).
"""
work_dir = 'work_dirs/g2sd_vit-s_in1k_coco_ade20k'
downloads = 'downloads'  # the published files, as named below
seed = 0
student = 'vit-s'  # names of the exported backbone and converted files

gd_cfg = 'configs/pretrain/g2sd_vit-small-p16_gd_8xb512-amp-300e_in1k.py'
cls_teacher_cfg = 'configs/cls/vit-base-p16_mae-ft_8xb128-amp-100e_in1k.py'
cls_student_cfg = 'configs/cls/vit-small-p16_g2sd-gd_8xb128-amp-200e_in1k.py'
cls_g2sd_cfg = 'configs/cls/g2sd_vits_cls.py'
# the extracted G2SD classification student keeps its distillation token
cls_g2sd_student_cfg = 'configs/cls/vit-small-p16-distilled_g2sd-gd_8xb128-amp-200e_in1k.py'
det_teacher_cfg = 'configs/det/vitdet_mask-rcnn_vit-b-mae_simple-fpn_8xb8-lsj-100e_coco.py'
det_student_cfg = 'configs/det/vitdet_mask-rcnn_vit-s-g2sd_simple-fpn_8xb8-lsj-100e_coco.py'
det_g2sd_cfg = 'configs/det/g2sd_vits_maskrcnn.py'
seg_teacher_cfg = 'configs/seg/upernet_vit-b-mae_feature2pyramid_8xb2-amp-160k_ade20k-512x512.py'
seg_student_cfg = 'configs/seg/upernet_vit-s-g2sd_feature2pyramid_8xb2-amp-160k_ade20k-512x512.py'
seg_g2sd_cfg = 'configs/seg/g2sd_vits_upernet.py'
table_note = ''

results = dict(
    cls=['cls_teacher_test', 'cls_student_test', 'cls_g2sd_test'],
    det=['det_teacher_test', 'det_student_test', 'det_g2sd_test'],
    seg=['seg_teacher_test', 'seg_student_test', 'seg_g2sd_test'])

no_init = {'model.backbone.init_cfg': None}  # tests load the whole model
_see = 'see README.md, "Published weights"'

stages = dict(
    # the published files (a missing one stops the run before anything starts)
    mae_full=dict(type='file', path='{downloads}/mae_pretrain_vit_base_full.pth',
                  hint='official MAE release (facebookresearch/mae): ViT-Base pretrained '
                  f'encoder + decoder, normalised-pixel loss; {_see}'),
    mae_finetuned=dict(type='file', path='{downloads}/mae_finetuned_vit_base.pth',
                       hint='official MAE release (facebookresearch/mae): ViT-Base '
                       f'fine-tuned on ImageNet-1k, 83.6 top-1; {_see}'),
    vitdet_b=dict(type='file', path='{downloads}/model_final_61ccd1.pkl',
                  hint='detectron2 model zoo, ViTDet COCO Mask R-CNN ViT-B, model id '
                  f'325346929; {_see}'),
    mmseg_mae=dict(type='file',
                   path='{downloads}/upernet_mae-base_fp16_8x2_512x512_160k_ade20k'
                   '_20220426_174752-f92a2975.pth',
                   hint=f'mmsegmentation model zoo, MAE ViT-B UperNet ADE20K; {_see}'),
    # teachers in g2sd_mm's layouts
    cls_teacher_convert=dict(
        type='command',
        cmd=['tools/model_converters/mae_finetuned_to_mmpretrain.py', '{mae_finetuned.path}',
             '{work_dir}/teachers/vit-base-p16_mae-ft_in1k.pth'],
        outputs=['{work_dir}/teachers/vit-base-p16_mae-ft_in1k.pth']),
    det_teacher_convert=dict(
        type='command',
        cmd=['tools/model_converters/vitdet_d2_to_mmdet.py', '{vitdet_b.path}',
             '{work_dir}/teachers/vitdet_mask-rcnn_vit-b_d2-325346929_coco.pth', '--arch', 'b'],
        outputs=['{work_dir}/teachers/vitdet_mask-rcnn_vit-b_d2-325346929_coco.pth']),
    seg_teacher_convert=dict(
        type='command',
        cmd=['tools/model_converters/mmseg_mae_to_g2sd.py', '{mmseg_mae.path}',
             '{work_dir}/teachers/upernet_vit-b-mae_8xb2-160k_ade20k-512x512.pth'],
        outputs=['{work_dir}/teachers/upernet_vit-b-mae_8xb2-160k_ade20k-512x512.pth']),
    # stage 1
    gd=dict(type='train', config='{gd_cfg}', cfg_options={'model.teacher_ckpt': '{mae_full.path}'}),
    gd_export=dict(type='command',
                   cmd=['tools/model_converters/g2sd_gd_export.py', '{gd.checkpoint}',
                        '{gd.work_dir}/export/{student}_g2sd'],
                   outputs=['{gd.work_dir}/export/{student}_g2sd_backbone.pth',
                            '{gd.work_dir}/export/{student}_g2sd_timm.pth']),
    # stage 2: baselines and G2SD students
    cls_student=dict(type='train', config='{cls_student_cfg}', cfg_options={
        'model.backbone.init_cfg.checkpoint': '{gd_export.output}'}),
    cls_g2sd=dict(type='train', config='{cls_g2sd_cfg}', cfg_options={
        'model.teacher_ckpt': '{mae_finetuned.path}',
        'model.student.backbone.init_cfg.checkpoint': '{gd_export.output}'}),
    cls_g2sd_extract=dict(type='command',
                          cmd=['tools/model_converters/extract_student.py',
                               '{cls_g2sd.checkpoint}', '{cls_g2sd.work_dir}/student_only.pth'],
                          outputs=['{cls_g2sd.work_dir}/student_only.pth']),
    det_student=dict(type='train', config='{det_student_cfg}', cfg_options={
        'model.backbone.init_cfg.checkpoint': '{gd_export.output}'}),
    det_g2sd=dict(type='train', config='{det_g2sd_cfg}', cfg_options={
        'model.teacher_ckpt': '{det_teacher_convert.output}',
        'model.student.backbone.init_cfg.checkpoint': '{gd_export.output}'}),
    det_g2sd_extract=dict(type='command',
                          cmd=['tools/model_converters/extract_student.py',
                               '{det_g2sd.checkpoint}', '{det_g2sd.work_dir}/student_only.pth'],
                          outputs=['{det_g2sd.work_dir}/student_only.pth']),
    seg_student=dict(type='train', config='{seg_student_cfg}', cfg_options={
        'model.backbone.init_cfg.checkpoint': '{gd_export.output}'}),
    seg_g2sd=dict(type='train', config='{seg_g2sd_cfg}', cfg_options={
        'model.teacher_ckpt': '{seg_teacher_convert.output}',
        'model.student.backbone.init_cfg.checkpoint': '{gd_export.output}'}),
    seg_g2sd_extract=dict(type='command',
                          cmd=['tools/model_converters/extract_student.py',
                               '{seg_g2sd.checkpoint}', '{seg_g2sd.work_dir}/student_only.pth'],
                          outputs=['{seg_g2sd.work_dir}/student_only.pth']),
    # tests: published teachers, baselines, G2SD students
    cls_teacher_test=dict(type='test', config='{cls_teacher_cfg}',
                          checkpoint='{cls_teacher_convert.output}', cfg_options=no_init),
    cls_student_test=dict(type='test', config='{cls_student_cfg}',
                          checkpoint='{cls_student.checkpoint}', cfg_options=no_init),
    cls_g2sd_test=dict(type='test', config='{cls_g2sd_student_cfg}',
                       checkpoint='{cls_g2sd_extract.output}', cfg_options=no_init),
    det_teacher_test=dict(type='test', config='{det_teacher_cfg}',
                          checkpoint='{det_teacher_convert.output}', cfg_options=no_init),
    det_student_test=dict(type='test', config='{det_student_cfg}',
                          checkpoint='{det_student.checkpoint}', cfg_options=no_init),
    det_g2sd_test=dict(type='test', config='{det_student_cfg}',
                       checkpoint='{det_g2sd_extract.output}', cfg_options=no_init),
    seg_teacher_test=dict(type='test', config='{seg_teacher_cfg}',
                          checkpoint='{seg_teacher_convert.output}', cfg_options=no_init),
    seg_student_test=dict(type='test', config='{seg_student_cfg}',
                          checkpoint='{seg_student.checkpoint}', cfg_options=no_init),
    seg_g2sd_test=dict(type='test', config='{seg_student_cfg}',
                       checkpoint='{seg_g2sd_extract.output}', cfg_options=no_init),
    table=dict(type='command',
               cmd=['tools/analysis/g2sd_table.py',
                    *[a for task, tests in results.items()
                      for a in [f'--{task}', *[f'{{{t}.metrics}}' for t in tests]]],
                    '--note', '{table_note}', '--out', '{work_dir}/retention.md'],
               outputs=['{work_dir}/retention.md']),
)
