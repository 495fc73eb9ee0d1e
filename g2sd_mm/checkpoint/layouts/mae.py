"""Key renaming between the official-MAE/timm layout and mmpretrain's.

The layout g2sd_mm uses internally is the official MAE one (``blocks.N.norm1``,
``decoder_blocks.N.mlp.fc1``, ...), which is also timm's ViT layout. mmpretrain
names the same tensors ``backbone.layers.N.ln1``, ``neck.decoder_blocks.N.ffn.layers.0.0``.
Both directions are generated from one table, so they are exact inverses.
"""
import re
from typing import Dict, List, Mapping, Tuple

import torch

# (official / timm, mmpretrain) templates; {i} = block index, {w} = weight|bias.
_BLOCK = [
    ('norm1.{w}', 'ln1.{w}'),
    ('attn.qkv.{w}', 'attn.qkv.{w}'),
    ('attn.proj.{w}', 'attn.proj.{w}'),
    ('norm2.{w}', 'ln2.{w}'),
    ('mlp.fc1.{w}', 'ffn.layers.0.0.{w}'),
    ('mlp.fc2.{w}', 'ffn.layers.1.{w}'),
]
ENCODER_PAIRS: List[Tuple[str, str]] = [
    ('cls_token', 'backbone.cls_token'),
    ('pos_embed', 'backbone.pos_embed'),
    ('patch_embed.proj.{w}', 'backbone.patch_embed.projection.{w}'),
    ('norm.{w}', 'backbone.ln1.{w}'),
] + [(f'blocks.{{i}}.{a}', f'backbone.layers.{{i}}.{b}') for a, b in _BLOCK]
DECODER_PAIRS: List[Tuple[str, str]] = [
    ('decoder_embed.{w}', 'neck.decoder_embed.{w}'),
    ('mask_token', 'neck.mask_token'),
    ('decoder_pos_embed', 'neck.decoder_pos_embed'),
    ('decoder_norm.{w}', 'neck.ln1.{w}'),
    ('decoder_pred.{w}', 'neck.decoder_pred.{w}'),
] + [(f'decoder_blocks.{{i}}.{a}', f'neck.decoder_blocks.{{i}}.{b}') for a, b in _BLOCK]
MAE_PAIRS = ENCODER_PAIRS + DECODER_PAIRS
# A fine-tuned MAE classifier (global pool): ``fc_norm`` is mmpretrain's ``ln2``
# (``out_type='avg_featmap'``), the classifier is ``LinearClsHead.fc``.
CLASSIFIER_PAIRS = ENCODER_PAIRS + [
    ('fc_norm.{w}', 'backbone.ln2.{w}'),
    ('head.{w}', 'head.fc.{w}'),
]


def _compile(template: str) -> 're.Pattern':
    pattern = re.escape(template)
    pattern = pattern.replace(r'\{i\}', r'(?P<i>\d+)').replace(r'\{w\}', r'(?P<w>weight|bias)')
    return re.compile(pattern + '$')


def _table(pairs, reverse: bool):
    return [(_compile(b if reverse else a), a if reverse else b) for a, b in pairs]


def _rename(state_dict: Mapping[str, torch.Tensor], table, what: str,
            keep_unknown: bool = False, strip_unknown: str = '') -> Dict[str, torch.Tensor]:
    out, unknown = {}, []
    for key, value in state_dict.items():
        for regex, template in table:
            match = regex.match(key)
            if match:
                out[template.format(**match.groupdict())] = value
                break
        else:
            if keep_unknown:
                out[key[len(strip_unknown):] if key.startswith(strip_unknown) else key] = value
            else:
                unknown.append(key)
    if unknown:
        raise KeyError(f'{what}: {len(unknown)} key(s) have no known mapping: '
                       f'{sorted(unknown)[:20]}')
    return out


def official_to_mmpretrain(state_dict: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Official MAE / timm ViT keys -> mmpretrain ``backbone.*`` / ``neck.*`` keys."""
    return _rename(state_dict, _table(MAE_PAIRS, reverse=False), 'official -> mmpretrain')


def mmpretrain_to_official(state_dict: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """mmpretrain MAE (``backbone.*``, ``neck.*``) keys -> official MAE / timm keys.

    mmpretrain's parameter-free ``head`` and the data preprocessor's buffers
    are dropped; any other unknown key is an error.
    """
    kept = {k: v for k, v in state_dict.items()
            if not k.startswith(('data_preprocessor.', 'head.'))}
    return _rename(kept, _table(MAE_PAIRS, reverse=True), 'mmpretrain -> official')


def official_classifier_to_mmpretrain(
        state_dict: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """An official MAE / timm fine-tuned ViT classifier -> mmpretrain ``ImageClassifier``
    keys (``backbone.*`` with ``ln2`` = ``fc_norm``, ``head.fc.*``)."""
    return _rename(state_dict, _table(CLASSIFIER_PAIRS, reverse=False),
                   'official classifier -> mmpretrain')


def official_encoder_to_mmpretrain_backbone(
        state_dict: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Official ViT encoder keys -> mmpretrain ``VisionTransformer`` keys (no
    ``backbone.`` prefix); keys without an encoder mapping are kept as they are."""
    renamed = _rename(state_dict, _table(ENCODER_PAIRS, reverse=False), 'encoder',
                      keep_unknown=True)
    return {(k[len('backbone.'):] if k.startswith('backbone.') else k): v
            for k, v in renamed.items()}


def is_mmpretrain_layout(keys) -> bool:
    """True when the keys look like an mmpretrain model (``backbone.``/``neck.`` prefixes)."""
    keys = list(keys)
    return bool(keys) and any(k.startswith('backbone.') for k in keys) and not any(
        k.startswith(('blocks.', 'student.')) for k in keys)


def mmpretrain_encoder_to_official(state_dict: Mapping[str, torch.Tensor]
                                   ) -> Dict[str, torch.Tensor]:
    """mmpretrain ``VisionTransformer`` keys (no ``backbone.`` prefix:
    ``layers.N.ln1``, ``patch_embed.projection``) -> official/timm keys.

    A state dict without such keys is returned as it is; keys without an
    encoder mapping are kept, so a strict check reports them.
    """
    if not any(k.startswith(('layers.', 'patch_embed.projection.')) for k in state_dict):
        return dict(state_dict)
    table = _table(ENCODER_PAIRS, reverse=True)
    return _rename({'backbone.' + k: v for k, v in state_dict.items()}, table,
                   'mmpretrain encoder -> official', keep_unknown=True,
                   strip_unknown='backbone.')
