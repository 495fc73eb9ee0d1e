"""Datasets that fail loudly, naming the file, on empty or unreadable data.

mmengine's ``BaseDataset`` leaves two kinds of bad data unclear:

* an empty dataset (an empty annotation file, an empty image folder, a wrong
  ``img_suffix``, or a ``filter_cfg`` that removes every sample) fails while
  serialising the sample list with ``ValueError: need at least one array to
  concatenate``, which names neither the dataset nor the file;
* a pipeline that raises on a sample (e.g. a zero-byte image, on which OpenCV
  fails with ``!buf.empty()``, or an image decoded with Pillow) gives the
  decoder's message without the file.

Policy for unreadable samples: with the stock ``LoadImageFromFile``
(``ignore_empty=False``, the default) a corrupted image is an error, never a
skipped sample. mmcv's own message names the file for undecodable bytes
(``failed to load image: PATH``); :class:`CheckedDatasetMixin` re-raises every
other pipeline error as a :class:`SampleError` naming the sample's files. A
pipeline that returns ``None`` (``ignore_empty=True``, or mmdet's crop and
filter transforms) makes mmengine draw another random sample in training (at
most ``max_refetch`` times); the mixin logs each such file once, so skipping is
never silent, and in test mode it is an error naming the file.
"""
import logging
from typing import Any, List

from mmengine.logging import print_log
from mmpretrain.datasets import CustomDataset
from mmpretrain.registry import DATASETS as PRETRAIN_DATASETS
from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS as SEG_DATASETS

__all__ = ['CheckedDatasetMixin', 'SampleError', 'CheckedCustomDataset',
           'CheckedBaseSegDataset']


class SampleError(RuntimeError):
    """Preparing one sample failed; the message names its files."""


class CheckedDatasetMixin:
    """Mix into an mmengine ``BaseDataset`` subclass (before it in the bases).

    * an empty sample list, before or after ``filter_cfg``, raises
      ``ValueError`` naming the annotation file (or the image folder);
    * an exception from the pipeline whose message does not name the sample's
      files (``img_path``, ``seg_map_path``, ...) is re-raised as
      :class:`SampleError` that does, with the original as ``__cause__``;
    * a sample the pipeline drops (returns ``None``) is logged once per file
      in training and raises :class:`SampleError` in test mode.
    """

    def filter_data(self) -> List[dict]:
        loaded = len(self.data_list)
        kept = super().filter_data()
        if not kept:
            raise ValueError(self._empty_message(loaded))
        return kept

    def _empty_message(self, loaded: int) -> str:
        name = type(self).__name__
        if loaded:
            return (f'{self._source()}: empty {name}, all {loaded} samples were removed by '
                    f'filter_cfg={self.filter_cfg}')
        if self.ann_file:
            return f'{self.ann_file}: empty {name}, the annotation file lists no samples'
        suffix = getattr(self, 'img_suffix', None)
        what = f'no image files ending in {suffix!r}' if suffix else 'no image files'
        return f'{self._source()}: empty {name}, {what} found there'

    def _source(self) -> str:
        if self.ann_file:
            return str(self.ann_file)
        prefix = self.data_prefix
        folder = prefix.get('img_path', prefix.get('img')) if isinstance(prefix, dict) else prefix
        return str(folder or self.data_root)

    def _sample_paths(self, idx: int) -> List[str]:
        try:
            info = self.get_data_info(idx)
        except Exception:  # noqa: BLE001  (only used to word another error)
            return []
        return [v for k, v in info.items() if k.endswith('_path') and isinstance(v, str)]

    def prepare_data(self, idx: int) -> Any:
        try:
            data = super().prepare_data(idx)
        except Exception as e:
            paths = self._sample_paths(idx)
            if not paths or any(p in str(e) for p in paths):
                raise
            reason = f'{type(e).__name__}: {str(e).strip()}'
            raise SampleError(f'{paths[0]}: cannot prepare sample {idx} of '
                              f'{type(self).__name__} ({reason})') from e
        if data is None:
            self._report_dropped(idx)
        return data

    def _report_dropped(self, idx: int) -> None:
        paths = self._sample_paths(idx)
        where = paths[0] if paths else f'sample {idx}'
        if self.test_mode:
            raise SampleError(f'{where}: the test pipeline of {type(self).__name__} dropped '
                              'this sample (a transform returned None, e.g. '
                              'LoadImageFromFile(ignore_empty=True) on an unreadable image)')
        reported = self.__dict__.setdefault('_dropped_reported', set())
        if where not in reported:
            reported.add(where)
            print_log(f'{where}: dropped by the {type(self).__name__} pipeline (a transform '
                      'returned None); another sample is drawn in its place',
                      logger='current', level=logging.WARNING)


@PRETRAIN_DATASETS.register_module()
class CheckedCustomDataset(CheckedDatasetMixin, CustomDataset):
    """mmpretrain's ``CustomDataset`` with the checks of :class:`CheckedDatasetMixin`."""


@SEG_DATASETS.register_module()
class CheckedBaseSegDataset(CheckedDatasetMixin, BaseSegDataset):
    """mmseg's ``BaseSegDataset`` with the checks of :class:`CheckedDatasetMixin`."""
