"""Run tools/train.py and get it killed at a chosen point (used by the tests).

    python tests/test_tools/interrupted_train.py --kill-after-checkpoint iter_3.pth \
        -- CONFIG [train.py args]
        SIGKILLs itself right after checkpoint ``iter_3.pth`` and the
        ``last_checkpoint`` pointer to it are written (AtomicCheckpointHook).

    python tests/test_tools/interrupted_train.py --block-writing iter_4.pth --marker FILE \
        -- CONFIG [train.py args]
        Writes half of ``iter_4.pth`` (into the temporary file of
        ``atomic_write``), creates FILE and waits there for the caller's SIGKILL.
"""
import argparse
import os
import os.path as osp
import runpy
import signal
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--kill-after-checkpoint')
    parser.add_argument('--block-writing')
    parser.add_argument('--marker')
    parser.add_argument('train_args', nargs=argparse.REMAINDER)
    args = parser.parse_args()
    train_args = args.train_args[1:] if args.train_args[:1] == ['--'] else args.train_args

    sys.path.insert(0, ROOT)
    from g2sd_mm.checkpoint import atomic
    from g2sd_mm.engine import atomic_checkpoint

    if args.kill_after_checkpoint:
        save = atomic_checkpoint.AtomicCheckpointHook._save_checkpoint_with_step

        def save_then_die(self, runner, step, meta):
            save(self, runner, step, meta)
            if osp.basename(str(self.last_ckpt)) == args.kill_after_checkpoint:
                os.kill(os.getpid(), signal.SIGKILL)

        atomic_checkpoint.AtomicCheckpointHook._save_checkpoint_with_step = save_then_die

    if args.block_writing:
        write_all = atomic._write_all

        def write_half_and_wait(f, data):
            if not osp.basename(f.name).startswith(f'.{args.block_writing}.'):
                return write_all(f, data)
            f.write(data[:len(data) // 2])
            f.flush()
            os.fsync(f.fileno())
            with open(args.marker + '.part', 'w') as m:
                m.write(f'{f.name}\n{len(data)}\n')
            os.replace(args.marker + '.part', args.marker)
            time.sleep(600)

        atomic._write_all = write_half_and_wait

    sys.argv = [osp.join(ROOT, 'tools', 'train.py')] + train_args
    runpy.run_path(sys.argv[0], run_name='__main__')


if __name__ == '__main__':
    main()
