"""Tiny UperNets shared by the segmentation checkpoint-layout tests: g2sd_mm's
ViT-B UperNet config and mmseg's stock MAE UperNet config, shrunk to run on CPU."""
import os.path as osp

import mmseg
import torch
from mmseg.registry import MODELS

from g2sd_mm.models.algorithms.base_distiller import model_cfg_from_path

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
OUR_CFG = osp.join(ROOT, 'configs', 'seg',
                   'upernet_vit-b-mae_feature2pyramid_8xb2-amp-160k_ade20k-512x512.py')
STOCK_CFG = osp.join(osp.dirname(mmseg.__file__), '.mim', 'configs', 'mae',
                     'mae-base_upernet_8xb2-amp-160k_ade20k-512x512.py')
BN = dict(type='BN', requires_grad=True)
CLASSES = 5


def head_overrides(dim: int) -> dict:
    return dict(neck=dict(embed_dim=dim, norm_cfg=BN),
                decode_head=dict(in_channels=[dim] * 4, channels=16, num_classes=CLASSES,
                                 norm_cfg=BN),
                auxiliary_head=dict(in_channels=dim, channels=8, num_classes=CLASSES,
                                    norm_cfg=BN))


def our_overrides(dim: int, depth: int, heads: int, img: int) -> dict:
    return dict(backbone=dict(arch=dict(_delete_=True, embed_dim=dim, depth=depth,
                                        num_heads=heads),
                              img_size=(img, img), out_indices=tuple(range(4)),
                              drop_path_rate=0.0, init_cfg=None),
                **head_overrides(dim))


def write_tiny_config(path: str, dim: int, depth: int, heads: int, img: int) -> str:
    """A config file: the ViT-B teacher config with a tiny backbone and heads."""
    with open(path, 'w') as f:
        f.write(f'_base_ = [{OUR_CFG!r}]\nmodel = {our_overrides(dim, depth, heads, img)!r}\n')
    return path


def build(cfg_path: str, **overrides) -> torch.nn.Module:
    cfg = model_cfg_from_path(dict(cfg_path=cfg_path, **overrides))
    cfg.setdefault('_scope_', 'mmseg')
    return MODELS.build(cfg).eval()


def build_ours(dim: int, depth: int, heads: int, img: int) -> torch.nn.Module:
    return build(OUR_CFG, **our_overrides(dim, depth, heads, img))


def build_stock(dim: int, depth: int, heads: int, img: int) -> torch.nn.Module:
    """mmseg's stock MAE UperNet (its ``MAE`` backbone), shrunk."""
    return build(STOCK_CFG, pretrained=None,
                 backbone=dict(img_size=(img, img), embed_dims=dim, num_layers=depth,
                               num_heads=heads, out_indices=list(range(4)),
                               drop_path_rate=0.0),
                 **head_overrides(dim))


def seed_weights(model: torch.nn.Module, seed: int = 0) -> None:
    """Random weights everywhere: non-zero relative-position tables (their
    class-token rows included), layer scales away from 1, BN statistics."""
    gen = torch.Generator().manual_seed(seed)

    def rand(t, std):
        return torch.randn(t.shape, generator=gen) * std

    with torch.no_grad():
        for name, p in model.named_parameters():
            if 'relative_position_bias_table' in name:
                p.copy_(rand(p, 1.0))
            elif 'gamma' in name:
                p.copy_(1.0 + rand(p, 0.3))
            elif name.endswith(('pos_embed', 'cls_token')):
                p.copy_(rand(p, 0.5))
            elif p.dim() == 1:
                p.copy_(p + rand(p, 0.1))
            else:
                p.copy_(rand(p, 1.0 / p[0].numel() ** 0.5))
        for name, b in model.named_buffers():
            if name.endswith('running_mean'):
                b.copy_(rand(b, 0.1))
            elif name.endswith('running_var'):
                b.copy_(0.5 + rand(b, 0.1).abs())
