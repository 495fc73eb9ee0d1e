from .masked_autoencoder_vit import MaskedAutoencoderViT
from .vit_rel_pos import ViTRelPos, load_vit_rel_pos_pretrained
from .vitdet import ViTDet, load_vit_pretrained

__all__ = ['MaskedAutoencoderViT', 'ViTDet', 'load_vit_pretrained', 'ViTRelPos',
           'load_vit_rel_pos_pretrained']
