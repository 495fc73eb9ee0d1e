"""COCO dataset whose annotation-file errors name the file."""
import json
from typing import Any, List

from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS
from mmengine.fileio import get_local_path

from .checked_dataset import CheckedDatasetMixin

# What the stock loader (json, pycocotools, mmdet) raises on a malformed file.
_MALFORMED_FILE_ERRORS = (ValueError, AssertionError, KeyError, TypeError,
                          IndexError)

_REQUIRED_KEYS = ('images', 'annotations', 'categories')


_PREVIEW = 8  # broken annotations listed in an error


def _ids(entries: list) -> set:
    """The hashable ``id`` values of the JSON objects in ``entries``."""
    ids = set()
    for entry in entries:
        if isinstance(entry, dict) and _hashable(entry.get('id')):
            ids.add(entry['id'])
    return ids


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _contains(ids: set, value: Any) -> bool:
    return _hashable(value) and value in ids


def _json_kind(value: Any) -> str:
    """How JSON calls the type of ``value``, with an article."""
    if isinstance(value, dict):
        return 'an object'
    if isinstance(value, list):
        return 'an array'
    if isinstance(value, str):
        return 'a string'
    if isinstance(value, bool):
        return 'a boolean'
    if isinstance(value, (int, float)):
        return 'a number'
    return 'null' if value is None else type(value).__name__


@DATASETS.register_module()
class CheckedCocoDataset(CheckedDatasetMixin, CocoDataset):
    """mmdet's ``CocoDataset`` with annotation-file errors that name the file.

    Loads exactly as the stock ``CocoDataset`` does, and checks what the
    stock loader leaves unchecked: the top level of the file must be a JSON
    object holding ``images`` (not empty), ``annotations`` and ``categories``
    arrays. ``annotations`` may be missing in ``test_mode`` (COCO's
    image-info files for test-dev have none).

    A problem with the file raises ``FileNotFoundError`` (missing file) or
    ``ValueError`` whose message starts with ``ann_file`` and says what is
    wrong (invalid JSON with line and column, wrong top-level type, missing
    or mistyped keys, annotations whose ``image_id`` or ``category_id`` is
    not listed in ``images`` / ``categories``: the stock loader drops those
    without a word); the original error is chained as ``__cause__``.

    Samples are checked as in :class:`CheckedDatasetMixin`: a ``filter_cfg``
    that leaves no image raises ``ValueError`` naming the file, and a sample
    the pipeline cannot read raises an error naming the image.
    """

    def load_data_list(self) -> List[dict]:
        """Load the stock way; check the parsed file and name it on errors."""
        stock_api = type(self).COCOAPI

        def open_and_check(local_path):
            coco = stock_api(local_path)
            self._check_content(coco.dataset)
            return coco

        # The stock ``load_data_list`` opens the file through
        # ``self.COCOAPI``; an instance attribute hooks the check in without
        # parsing the file a second time.
        self.COCOAPI = open_and_check
        try:
            return super().load_data_list()
        except FileNotFoundError as e:
            raise FileNotFoundError(
                f'{self.ann_file}: annotation file not found') from e
        except _MALFORMED_FILE_ERRORS as e:
            if str(self.ann_file) in str(e):
                raise  # already says which file
            raise self._diagnose(e) from e
        finally:
            del self.COCOAPI

    def _diagnose(self, error: Exception) -> ValueError:
        """Re-read the file after the stock loader failed on it, and return
        an error naming the file and the problem."""
        name = self.ann_file
        try:
            with get_local_path(
                    self.ann_file,
                    backend_args=self.backend_args) as local_path:
                with open(local_path, encoding='utf-8') as f:
                    content = json.load(f)
            self._check_content(content)
        except json.JSONDecodeError as e:
            return ValueError(f'{name}: invalid JSON at line {e.lineno}, '
                              f'column {e.colno}: {e.msg}')
        except UnicodeDecodeError as e:
            return ValueError(f'{name}: not UTF-8 text (byte {e.start}: '
                              f'{e.reason}), so not a JSON annotation file')
        except ValueError as e:
            return e
        return ValueError(f'{name}: not a valid COCO annotation file '
                          f'({type(error).__name__}: {error})')

    def _check_content(self, content: Any) -> None:
        """Raise ``ValueError`` naming the file if ``content`` (the parsed
        file) is not the COCO layout."""
        name = self.ann_file
        required = [
            k for k in _REQUIRED_KEYS
            if not (k == 'annotations' and self.test_mode)
        ]
        if not isinstance(content, dict):
            raise ValueError(
                f'{name}: the top level of a COCO annotation file must be a '
                f'JSON object with the keys {", ".join(_REQUIRED_KEYS)}; '
                f'this one is {_json_kind(content)}')
        missing = [k for k in required if k not in content]
        if missing:
            found = ', '.join(map(str, content)) or 'none'
            raise ValueError(
                f'{name}: missing key(s) {", ".join(missing)} (a COCO '
                f'annotation file needs {", ".join(required)}; found '
                f'keys: {found})')
        for key in _REQUIRED_KEYS:
            if key in content and not isinstance(content[key], list):
                raise ValueError(f'{name}: "{key}" must be an array, '
                                 f'got {_json_kind(content[key])}')
        if not content['images']:
            raise ValueError(f'{name}: "images" is empty, the file lists '
                             'no images')
        self._check_references(content)

    def _check_references(self, content: dict) -> None:
        """Raise ``ValueError`` naming the file and the annotation ids whose
        ``image_id`` or ``category_id`` is not in ``images`` / ``categories``
        (the stock loader drops such annotations without a word)."""
        image_ids = _ids(content['images'])
        category_ids = _ids(content['categories'])
        annotations = content.get('annotations') or []
        broken = []
        for ann in annotations:
            if not isinstance(ann, dict):
                continue
            missing = [f'{key} {ann.get(key)!r}'
                       for key, known in (('image_id', image_ids),
                                          ('category_id', category_ids))
                       if not _contains(known, ann.get(key))]
            if missing:
                broken.append(f'{ann.get("id")!r} ({", ".join(missing)})')
        if broken:
            more = (f' ... (+{len(broken) - _PREVIEW} more)'
                    if len(broken) > _PREVIEW else '')
            raise ValueError(
                f'{self.ann_file}: {len(broken)} of {len(annotations)} '
                'annotation(s) refer to an image or category the file does '
                'not list (they would be dropped silently); annotation id(s): '
                + '; '.join(broken[:_PREVIEW]) + more)
