from .coco import CheckedCocoDataset
from .seg_transforms import CheckedLoadSegAnnotations

__all__ = ['CheckedCocoDataset', 'CheckedLoadSegAnnotations']
