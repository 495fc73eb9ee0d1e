from .cwd_loss import ChannelWiseDivergence
from .feature_distill_loss import FeatureDistillLoss
from .frs_loss import FRSLoss

__all__ = ['ChannelWiseDivergence', 'FeatureDistillLoss', 'FRSLoss']
