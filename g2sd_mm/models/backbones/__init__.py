from .masked_autoencoder_vit import MaskedAutoencoderViT
from .vit_classifier import G2SDDistilledViT, G2SDViT, load_vit_classifier_pretrained
from .vit_rel_pos import ViTRelPos, load_vit_rel_pos_pretrained
from .vitdet import ViTDet, load_vit_pretrained

__all__ = ['MaskedAutoencoderViT', 'ViTDet', 'load_vit_pretrained', 'ViTRelPos',
           'load_vit_rel_pos_pretrained', 'G2SDViT', 'G2SDDistilledViT',
           'load_vit_classifier_pretrained']
