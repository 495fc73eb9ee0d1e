"""Tiny teacher/student configs shared by the model tests (CPU-sized)."""
import copy

from g2sd_mm.models import GenericDistiller

TEACHER = dict(type='MaskedAutoencoderViT', arch=dict(embed_dim=32, depth=2, num_heads=2),
               img_size=32, patch_size=8, decoder_embed_dim=16, decoder_depth=4,
               decoder_num_heads=2)
STUDENT = dict(type='MaskedAutoencoderViT', arch=dict(embed_dim=16, depth=2, num_heads=2),
               img_size=32, patch_size=8, decoder_embed_dim=8, decoder_depth=2,
               decoder_num_heads=2)


def module_kwargs(cfg):
    cfg = copy.deepcopy(cfg)
    cfg.pop('type')
    return cfg


def build_distiller(**kwargs):
    kwargs.setdefault('target_layer', 2)
    kwargs.setdefault('projector_hidden', 16)
    return GenericDistiller(student=copy.deepcopy(kwargs.pop('student', STUDENT)),
                            teacher=copy.deepcopy(kwargs.pop('teacher', TEACHER)), **kwargs)
