from .distilled_cls_head import G2SDDistilledClsHead

__all__ = ['G2SDDistilledClsHead']
