"""Procedural demo data (no downloads) for examples and smoke tests."""
from .shapes import (CLS_METAINFO, DET_METAINFO, SEG_CLASSES, SEG_METAINFO,
                     SEG_PALETTE, SHAPE_CLASSES, SHAPE_PALETTE,
                     generate_shapes, make_cls_image, make_scene,
                     polygon_to_mask)

__all__ = [
    'SHAPE_CLASSES', 'SHAPE_PALETTE', 'CLS_METAINFO', 'DET_METAINFO',
    'SEG_CLASSES', 'SEG_PALETTE', 'SEG_METAINFO', 'generate_shapes',
    'make_cls_image', 'make_scene', 'polygon_to_mask'
]
