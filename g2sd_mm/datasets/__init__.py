from .checked_dataset import (CheckedBaseSegDataset, CheckedCustomDataset,
                              CheckedDatasetMixin, SampleError)
from .coco import CheckedCocoDataset
from .seg_transforms import CheckedLoadSegAnnotations

__all__ = ['CheckedBaseSegDataset', 'CheckedCocoDataset', 'CheckedCustomDataset',
           'CheckedDatasetMixin', 'CheckedLoadSegAnnotations', 'SampleError']
