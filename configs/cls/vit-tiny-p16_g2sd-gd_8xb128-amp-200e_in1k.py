"""Student-only baseline: ViT-T/16 (192d, 12 blocks, 3 heads) initialised from
the G2SD stage-1 student; recipe as the ViT-S baseline."""
_base_ = ['./vit-small-p16_g2sd-gd_8xb128-amp-200e_in1k.py']

pretrained = 'checkpoints/g2sd_vit-tiny-p16_gd_backbone.pth'
model = dict(
    backbone=dict(arch='deit-tiny', init_cfg=dict(checkpoint=pretrained)),
    head=dict(in_channels=192))
