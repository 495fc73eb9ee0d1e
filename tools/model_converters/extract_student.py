"""Write the student of a G2SD stage-2 distillation checkpoint as a plain
mmdet / mmseg / mmpretrain checkpoint.

    python tools/model_converters/extract_student.py DISTILL.pth OUT.pth [--trust-pickle]

The output (``{'state_dict': ..., 'meta': ...}``) loads with zero missing keys
into the student-only config of the same stage (e.g. ``tools/test.py
STUDENT_CONFIG OUT.pth``).

The input is read with ``weights_only=True``: a file holding pickled objects
other than tensors is refused unless ``--trust-pickle`` is given. The output is
written atomically: a failed write leaves an existing OUT.pth untouched.
"""
import argparse
import os.path as osp

from g2sd_mm.checkpoint import add_trust_pickle_argument, atomic_save, extract_student_state


def main():
    parser = argparse.ArgumentParser(description='extract the student of a distiller checkpoint')
    parser.add_argument('checkpoint')
    parser.add_argument('out')
    add_trust_pickle_argument(parser)
    args = parser.parse_args()
    state = extract_student_state(args.checkpoint, trust_pickle=args.trust_pickle)
    atomic_save(dict(state_dict=state, meta=dict(source=osp.abspath(args.checkpoint))), args.out)
    print(f'wrote {len(state)} student tensors to {args.out}')


if __name__ == '__main__':
    main()
