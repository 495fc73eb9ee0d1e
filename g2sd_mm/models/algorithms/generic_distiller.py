"""G2SD stage 1: generic distillation from an MAE teacher's decoder features."""
import copy
import hashlib
import logging
import struct
from collections import OrderedDict
from typing import Dict, List, Literal, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmengine.logging import MessageHub, print_log
from mmpretrain.registry import MODELS

from ...checkpoint.mae import load_mae_checkpoint
from ..utils.masking import MaskIndices, masking_from_noise
from .base_distiller import BaseDistiller


def build_projector(in_dim: int, hidden_dim: int, out_dim: int) -> nn.Sequential:
    """The student-side projection MLP: ``Linear -> GELU -> Linear``."""
    return nn.Sequential(OrderedDict(
        fc1=nn.Linear(in_dim, hidden_dim), act=nn.GELU(), fc2=nn.Linear(hidden_dim, out_dim)))


@MODELS.register_module()
class GenericDistiller(BaseDistiller):
    """Generic distillation (G2SD stage 1, arXiv:2302.14771).

    One random mask per sample is drawn and shared: the frozen MAE teacher
    encodes the visible patches and runs its decoder up to block
    ``target_layer``; the student (a smaller :class:`MaskedAutoencoderViT`
    with a light decoder) does the same, and a projection MLP maps its decoder
    output onto the teacher's decoder width. The loss regresses the projection
    onto LayerNorm(teacher hidden states) over all tokens (cls + visible +
    masked) or, with ``supervise='masked'``, the masked tokens only.

    Args:
        student (dict): student :class:`MaskedAutoencoderViT` config.
        teacher (dict): teacher :class:`MaskedAutoencoderViT` config with its
            full decoder depth (e.g. 8); only ``target_layer`` blocks are built.
        teacher_ckpt (str, optional): full MAE checkpoint (encoder + decoder).
        student_ckpt (str, optional): student (and projector) initialisation.
        target_layer (int): 1-based decoder block whose output is the target.
        mask_ratio (float): fraction of masked patches (> 0 with
            ``supervise='masked'``, which would otherwise supervise nothing).
        projector_hidden (int): hidden width of the projection MLP (>= 1).
        loss (dict): loss config, default Smooth-L1 (beta 2) on LN targets.
        supervise (str): ``'all'`` tokens or ``'masked'`` tokens only.
        teacher_autocast (str, optional): see :class:`BaseDistiller`.
        mask_rng (str): where the mask noise comes from in training,
            ``'per_sample'`` (default) or ``'global'``; see below.
        data_preprocessor (dict, optional): e.g. ``SelfSupDataPreprocessor``.

    Masks: per sample the ``L * (1 - mask_ratio)`` patches with the smallest
    noise stay visible, exactly as in MAE. The ``(B, L)`` uniform noise is

    * ``noise`` when given (``loss(inputs, noise=noise)``);
    * with ``mask_rng='per_sample'``, for each sample its own draw from a
      ``torch.Generator`` seeded with a hash of (``mask_seed``, the training
      iteration, the sample's dataset index ``sample_idx``). The iteration is
      mmengine's message-hub ``'iter'`` (0 outside a runner); ``sample_idx``
      is the ``metainfo`` entry mmengine's ``BaseDataset`` sets and
      mmpretrain's ``PackInputs`` keeps. A sample's mask therefore depends
      neither on the other samples of its batch nor on how the global batch
      is split over processes nor on what else drew random numbers, and a
      resumed run draws the same masks as an uninterrupted one. The noise is
      drawn on the CPU, so it is the same on every device. ``mask_seed`` is a
      persistent int64 buffer, drawn once at construction from torch's
      seeded generator (without advancing it). In a distributed run the
      ranks may draw different values (``randomness.diff_rank_seed``); mmengine's
      ``Runner.train`` broadcasts rank 0's state dict, buffers included, after
      ``init_weights`` (DDP does not: mmengine wraps models with
      ``broadcast_buffers=False``), so all ranks use rank 0's. Checkpoints
      carry it, so a resumed run uses the same (a checkpoint without it keeps
      the model's own). A training loop other than mmengine's must broadcast
      it itself. Samples of
      different datasets that share an index (``ConcatDataset`` keeps the
      inner indices) share their mask within an iteration;
    * otherwise (``mask_rng='global'``, or ``data_samples`` missing or
      without ``sample_idx``, e.g. ``model.loss(images)`` in a script) one
      ``torch.rand`` draw from the global generator on the images' device,
      as MAE does. A training batch whose samples lack ``sample_idx`` logs a
      warning once.
    """

    def __init__(self,
                 student: dict,
                 teacher: dict,
                 teacher_ckpt: Optional[str] = None,
                 student_ckpt: Optional[str] = None,
                 target_layer: int = 4,
                 mask_ratio: float = 0.75,
                 projector_hidden: int = 512,
                 loss: Optional[dict] = None,
                 supervise: Literal['all', 'masked'] = 'all',
                 teacher_autocast: Optional[str] = None,
                 check_finite: bool = True,
                 mask_rng: Literal['per_sample', 'global'] = 'per_sample',
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 init_cfg: Optional[dict] = None):
        if supervise not in ('all', 'masked'):
            raise ValueError(f"supervise must be 'all' or 'masked', got {supervise!r}")
        if mask_rng not in ('per_sample', 'global'):
            raise ValueError(f"mask_rng must be 'per_sample' or 'global', got {mask_rng!r}")
        if not 0.0 <= mask_ratio < 1.0:
            raise ValueError(f'mask_ratio must be in [0, 1), got {mask_ratio}')
        if supervise == 'masked' and mask_ratio == 0:
            raise ValueError("supervise='masked' needs mask_ratio > 0: with mask_ratio=0 no "
                             'token is masked, so the loss is 0 and the student gets no gradient')
        if projector_hidden < 1:
            raise ValueError(f'projector_hidden must be >= 1, got {projector_hidden}: a '
                             'projection MLP without hidden units passes no gradient to the '
                             'student')
        teacher = self._truncated_teacher_cfg(teacher, target_layer)
        super().__init__(student=student, teacher=teacher, registry=MODELS,
                         teacher_ckpt=teacher_ckpt, teacher_autocast=teacher_autocast,
                         check_finite=check_finite, data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.target_layer = target_layer
        self.mask_ratio = mask_ratio
        self.supervise = supervise
        self.mask_rng = mask_rng
        self._warned_no_sample_idx = False
        with torch.random.fork_rng(devices=[]):  # read the seeded generator, do not advance it
            mask_seed = torch.randint(0, 2**62, (), dtype=torch.int64)
        self.register_buffer('mask_seed', mask_seed, persistent=True)
        self._register_load_state_dict_pre_hook(_keep_mask_seed, with_module=True)
        if self.student.patch_size != self.teacher.patch_size:
            raise ValueError(f'student patch size {self.student.patch_size} != teacher patch '
                             f'size {self.teacher.patch_size}: they cannot share one mask')
        self.projector = build_projector(self.student.decoder_embed_dim, projector_hidden,
                                         self.teacher.decoder_embed_dim)
        self.loss_module = self.build_component(loss or dict(type='FeatureDistillLoss'), MODELS,
                                                'loss')
        self.student_ckpt = student_ckpt
        if student_ckpt:
            load_mae_checkpoint(self.student, student_ckpt, role='student',
                                projector=self.projector)
            self.student.is_init = True
            self.projector.is_init = True

    @staticmethod
    def _truncated_teacher_cfg(teacher, target_layer: int):
        if isinstance(teacher, nn.Module):
            if getattr(teacher, 'decoder_depth', None) != target_layer:
                raise ValueError('a teacher module must be built with decoder_depth == '
                                 f'target_layer ({target_layer})')
            return teacher
        teacher = copy.deepcopy(teacher)
        depth = teacher.get('decoder_depth', 8)
        if not 1 <= target_layer <= depth:
            raise ValueError(f'target_layer must be in [1, {depth}] (the teacher decoder '
                             f'depth), got {target_layer}')
        if teacher.get('decoder_norm', False):
            raise ValueError('the teacher target is taken before the decoder norm; '
                             'set decoder_norm=False in the teacher config')
        teacher['decoder_depth'] = target_layer  # blocks after the target never run
        return teacher

    def load_teacher_checkpoint(self, teacher: nn.Module, path: str) -> None:
        load_mae_checkpoint(teacher, path, role='teacher')

    # ------------------------------------------------------------ training
    @staticmethod
    def _images(inputs) -> torch.Tensor:
        return inputs[0] if isinstance(inputs, (list, tuple)) else inputs

    def make_mask(self, imgs: torch.Tensor, noise: Optional[torch.Tensor] = None,
                  data_samples: Optional[Sequence] = None) -> MaskIndices:
        """The mask shared by teacher and student (see the class docs for the noise)."""
        grid = self.student.patch_grid(imgs.shape[-2:])
        num_patches = grid[0] * grid[1]
        if noise is None:
            indices = self._sample_indices(data_samples) if self.mask_rng == 'per_sample' \
                else None
            if indices is not None:
                noise = self.sample_noise(indices, num_patches)
            else:
                noise = torch.rand(imgs.shape[0], num_patches, device=imgs.device)
        elif noise.shape != (imgs.shape[0], num_patches):
            raise ValueError(f'noise must have shape (batch, patches) = '
                             f'{(imgs.shape[0], num_patches)}, got {tuple(noise.shape)}')
        return masking_from_noise(noise.to(imgs.device), self.mask_ratio)

    def sample_noise(self, sample_indices: Sequence[int], num_patches: int,
                     iteration: Optional[int] = None) -> torch.Tensor:
        """Per-sample mask noise ``(B, num_patches)`` on the CPU.

        Row ``i`` depends only on ``mask_seed``, ``iteration`` (default: the
        message hub's current ``'iter'``) and ``sample_indices[i]``.
        """
        if iteration is None:
            iteration = MessageHub.get_current_instance().get_info('iter', 0)
        base = int(self.mask_seed)
        noise = torch.empty(len(sample_indices), num_patches)
        generator = torch.Generator()
        for row, sample_idx in enumerate(sample_indices):
            generator.manual_seed(_sample_seed(base, int(iteration), int(sample_idx)))
            noise[row] = torch.rand(num_patches, generator=generator)
        return noise

    def _sample_indices(self, data_samples: Optional[Sequence]) -> Optional[List[int]]:
        if not data_samples:
            return None
        indices = []
        for sample in data_samples:
            meta = sample if isinstance(sample, dict) else getattr(sample, 'metainfo', {})
            idx = meta.get('sample_idx')
            if idx is None:
                if not self._warned_no_sample_idx:
                    print_log('GenericDistiller: the data samples carry no `sample_idx`, so the '
                              'masks come from the global random generator; they depend on the '
                              'batch split and are not reproduced exactly after a resume',
                              logger='current', level=logging.WARNING)
                    self._warned_no_sample_idx = True
                return None
            indices.append(int(idx))
        return indices

    def teacher_target(self, imgs: torch.Tensor, mask: MaskIndices) -> torch.Tensor:
        """Teacher hidden states after decoder block ``target_layer``, ``(B, 1 + L, D_t)``."""
        return self.run_teacher(self.teacher, imgs, mask.ids_keep, mask.ids_restore)

    def student_prediction(self, imgs: torch.Tensor, mask: MaskIndices) -> torch.Tensor:
        """Projected student decoder output, ``(B, 1 + L, D_t)``."""
        return self.projector(self.student(imgs, mask.ids_keep, mask.ids_restore))

    def loss(self, inputs, data_samples=None,
             noise: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        imgs = self._images(inputs)
        mask = self.make_mask(imgs, noise, data_samples)
        target = self.teacher_target(imgs, mask)
        pred = self.student_prediction(imgs, mask)
        token_mask = None
        if self.supervise == 'masked':
            cls = torch.zeros_like(mask.mask[:, :1])
            token_mask = torch.cat([cls, mask.mask], dim=1)
        return dict(loss_gd=self.loss_module(pred, target, token_mask))

    # ----------------------------------------------------------- inference
    def predict(self, inputs, data_samples=None):
        raise NotImplementedError('generic distillation has no predictions; evaluate the '
                                  'exported student on a downstream task')

    def _forward(self, inputs, data_samples=None) -> torch.Tensor:
        """Student encoder features of the full (unmasked) image, ``(B, 1 + L, C)``."""
        return self.student.forward_encoder(self._images(inputs))


def _sample_seed(base: int, iteration: int, sample_idx: int) -> int:
    """A 63-bit generator seed from (base seed, iteration, sample index), stable across runs."""
    digest = hashlib.blake2b(struct.pack('<3q', base, iteration, sample_idx),
                             digest_size=8).digest()
    return int.from_bytes(digest, 'little') & ((1 << 63) - 1)


def _keep_mask_seed(module, state_dict, prefix, local_metadata, strict, missing_keys,
                    unexpected_keys, error_msgs):
    """Checkpoints written before ``mask_seed`` existed load strictly, keeping the model's."""
    state_dict.setdefault(prefix + 'mask_seed', module.mask_seed)
