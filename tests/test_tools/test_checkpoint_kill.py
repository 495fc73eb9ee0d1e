"""tools/train.py SIGKILLed in the middle of writing a checkpoint: the previous
checkpoint and ``last_checkpoint`` survive, nothing truncated sits under the final
name, and ``tools/train.py --resume`` (automatic) continues from the last complete
checkpoint (removing the temporary file of the interrupted write). The config keeps
only one checkpoint (``max_keep_ckpts=1``), the case where mmengine's own
CheckpointHook would have deleted it before the write."""
import os.path as osp

import pytest
import torch

from train_runs import train, train_killed_while_writing

pytestmark = pytest.mark.slow

CFG = 'tests/configs/maskrcnn_tiny_shapes.py'


def test_kill_during_checkpoint_write_then_resume(tmp_path, shapes_root):
    coco = f'{shapes_root}/coco/'
    args = [CFG, '--cfg-options'] + [
        f'{k}.dataset.data_root={coco}' for k in
        ('train_dataloader', 'val_dataloader', 'test_dataloader')] + [
        f'{k}.ann_file={coco}annotations/instances_val.json'
        for k in ('val_evaluator', 'test_evaluator')] + [
        'train_cfg.max_iters=6', 'train_cfg.val_interval=100',
        'default_hooks.checkpoint.interval=2', 'default_hooks.checkpoint.max_keep_ckpts=1']
    work = tmp_path / 'work'
    tmp, size = train_killed_while_writing('iter_4.pth', args, work, tmp_path / 'marker')

    assert (work / 'last_checkpoint').read_text() == str(work / 'iter_2.pth')
    assert not (work / 'iter_4.pth').exists()
    assert osp.dirname(tmp) == str(work) and osp.getsize(tmp) == size // 2  # killed mid-write
    ckpt = torch.load(work / 'iter_2.pth', map_location='cpu', weights_only=True)
    assert ckpt['meta']['iter'] == 2 and ckpt['state_dict'] and ckpt['optimizer']

    log = train([CFG, '--resume', *args[1:]], work)
    assert f'Auto resumed from the latest checkpoint {work / "iter_2.pth"}' in log
    # the interrupted write's temporary file is removed at the start, and logged
    assert not osp.exists(tmp)
    assert f'Removed 1 stale temporary file(s) of checkpoint writes interrupted in an ' \
        f'earlier run: {tmp}' in log
    assert 'resumed epoch: 0, iter: 2' in log
    assert (work / 'last_checkpoint').read_text() == str(work / 'iter_6.pth')
    assert sorted(p.name for p in work.glob('*.pth')) == ['iter_6.pth']
    assert torch.load(work / 'iter_6.pth', map_location='cpu',
                      weights_only=True)['meta']['iter'] == 6
