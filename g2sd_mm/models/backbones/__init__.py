from .masked_autoencoder_vit import MaskedAutoencoderViT
from .vitdet import ViTDet, load_vit_pretrained

__all__ = ['MaskedAutoencoderViT', 'ViTDet', 'load_vit_pretrained']
