"""G2SD specific distillation for classification with the NKD option,
MAE ViT-B (fine-tuned) -> ViT-S.

    tools/dist_train.sh configs/cls/g2sd_vits_cls_nkd.py 8

As the reference's ``main_finetune_dis.py --enable_nkd true``: the loss is
NKD (temperature 1, alpha 1) on the class-token head alone, against the
teacher's logits and the dominant class of the mixed labels, without a
cross-entropy term; the distillation head is not trained and inference (and
the extracted student, tested with
``vit-small-p16-distilled_g2sd-gd_8xb128-amp-200e_in1k.py --cfg-options
model.head.eval_heads=cls``) uses the class-token head. Otherwise
``g2sd_vits_cls.py``.
"""
_base_ = ['./g2sd_vits_cls.py']

model = dict(
    student=dict(head=dict(eval_heads='cls')),
    distill_loss=dict(_delete_=True, type='NKDLoss', temperature=1.0, alpha=1.0),
    distill_weight=1.0,
    distill_head='cls')
