"""Checkpoint handling in one place.

* reading files safely (:mod:`.io`: torch zip / legacy with ``weights_only``,
  safetensors, raw pickles such as detectron2 ``.pkl`` through a restricted
  unpickler; every other file refused with an error saying what it is), for
  every scheme of mmengine's ``CheckpointLoader`` (:mod:`.schemes`), and
  writing outputs atomically (:mod:`.atomic`);
* layouts: key maps between the official MAE / timm, mmpretrain, detectron2,
  mmseg and G2SD-reference checkpoint layouts (``g2sd_mm.checkpoint.layouts``);
* strict loading with position-table resizing and a report of what was
  loaded, ignored and left missing (:mod:`.loading`, :mod:`.vit_backbones`,
  :mod:`.mae`), and the stage-1 / stage-2 student export (:mod:`.export`).
"""
from .atomic import atomic_save, atomic_write
from .errors import CheckpointError, UnsafeCheckpointError
from .export import encoder_to_mmpretrain_backbone, extract_student_state, student_encoder_state
from .file_kind import FileKind, sniff
from .io import add_trust_pickle_argument, load_checkpoint_file
from .layouts.mae import (mmpretrain_encoder_to_official, mmpretrain_to_official,
                          official_classifier_to_mmpretrain,
                          official_encoder_to_mmpretrain_backbone, official_to_mmpretrain)
from .loading import (check_checkpoint_fits, load_encoder_state, load_state_dict_strict,
                      run_init_cfg, select_prefix, source_name, state_dict_from_file,
                      state_dict_problems, unwrap_state_dict)
from .mae import load_mae_checkpoint, load_mae_state_dict, read_mae_checkpoint
from .schemes import register_safe_loading
from .vit_backbones import (load_vit_classifier_pretrained, load_vit_pretrained,
                            load_vit_rel_pos_pretrained)

__all__ = [
    'CheckpointError', 'UnsafeCheckpointError', 'load_checkpoint_file', 'add_trust_pickle_argument', 'FileKind', 'sniff',
    'register_safe_loading', 'atomic_write', 'atomic_save', 'official_to_mmpretrain',
    'mmpretrain_to_official', 'official_classifier_to_mmpretrain',
    'official_encoder_to_mmpretrain_backbone', 'mmpretrain_encoder_to_official',
    'unwrap_state_dict', 'select_prefix', 'source_name', 'load_encoder_state', 'run_init_cfg',
    'state_dict_problems', 'state_dict_from_file', 'load_state_dict_strict',
    'check_checkpoint_fits', 'read_mae_checkpoint', 'load_mae_state_dict', 'load_mae_checkpoint',
    'load_vit_pretrained', 'load_vit_rel_pos_pretrained', 'load_vit_classifier_pretrained',
    'student_encoder_state', 'encoder_to_mmpretrain_backbone', 'extract_student_state'
]
