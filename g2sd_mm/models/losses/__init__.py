from .cwd_loss import ChannelWiseDivergence
from .feature_distill_loss import FeatureDistillLoss
from .frs_loss import FRSLoss
from .hard_distill_loss import HardDistillLoss
from .nkd_loss import NKDLoss

__all__ = ['ChannelWiseDivergence', 'FeatureDistillLoss', 'FRSLoss', 'HardDistillLoss',
           'NKDLoss']
