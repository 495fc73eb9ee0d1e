"""Checkpoint handling in one place.

* reading files safely (torch zip / legacy, detectron2 ``.pkl``, safetensors);
* layouts: key maps between the official MAE / timm, mmpretrain, detectron2,
  mmseg and G2SD-reference checkpoint layouts (``g2sd_mm.checkpoint.layouts``);
* strict loading with position-table resizing and a report of what was
  loaded and what was ignored.
"""
