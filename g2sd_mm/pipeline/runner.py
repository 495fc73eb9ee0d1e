"""Run a resolved pipeline: skip complete stages, resume interrupted trainings,
log each stage, stop at the first failure, record the time of each stage."""
import collections
import json
import os
import os.path as osp
import shlex
import queue
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, TextIO

from .launch import Launcher
from .spec import Pipeline, PipelineError, Stage
from .stages import State

TAIL_LINES = 20


@dataclass
class RunOptions:
    force: bool = False                  # rerun every selected stage
    force_stages: Sequence[str] = ()     # rerun these
    only: Sequence[str] = ()             # run only these
    from_stage: Optional[str] = None     # run this stage and the ones after it
    dry_run: bool = False                # print the plan and the commands only
    launcher: Launcher = field(default_factory=Launcher)
    jobs: int = 1                        # stages run at the same time (independent ones)


def select(pipe: Pipeline, opts: RunOptions) -> List[Stage]:
    """The stages to consider, in order (stages shared from another run excluded)."""
    names = list(pipe.stages)
    for given in [*opts.only, *opts.force_stages, *([opts.from_stage] if opts.from_stage else [])]:
        if given not in pipe.stages:
            raise PipelineError(f'no stage {given!r} in {pipe.path} (stages: {", ".join(names)})')
    chosen = names[names.index(opts.from_stage):] if opts.from_stage else names
    if opts.only:
        chosen = [n for n in chosen if n in opts.only]
    return [pipe.stages[n] for n in chosen if not pipe.stages[n].shared]


def show(argv: List[str], env: Dict[str, str]) -> str:
    return ' '.join([f'{k}={shlex.quote(v)}' for k, v in env.items()] + [shlex.quote(a)
                                                                         for a in argv])


def _child_env(pipe: Pipeline, extra: Dict[str, str], launcher: Launcher) -> Dict[str, str]:
    env = dict(os.environ)
    env.setdefault('PYTHONWARNINGS', 'ignore')
    env.setdefault('PYTHON', launcher.python)  # used by tools/dist_*.sh and slurm_*.sh
    # the tools import this checkout's g2sd_mm, as tools/dist_train.sh does
    env['PYTHONPATH'] = os.pathsep.join(p for p in (pipe.root, env.get('PYTHONPATH')) if p)
    env.update(extra)
    return env


def _run_logged(argv: List[str], env: Dict[str, str], cwd: str, log_path: str,
                out: Optional[TextIO]) -> int:
    """Run ``argv``; its stdout + stderr go to ``log_path`` and to ``out`` (if given)."""
    os.makedirs(osp.dirname(log_path), exist_ok=True)
    with open(log_path, 'w') as log:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors='replace',
                                bufsize=1)
        try:
            for line in proc.stdout:
                log.write(line)
                log.flush()
                if out is not None:
                    out.write(line)
                    out.flush()
        except BaseException:
            proc.terminate()
            proc.wait()
            raise
        return proc.wait()


def _tail(path: str, n: int = TAIL_LINES) -> str:
    with open(path, errors='replace') as f:
        return ''.join(collections.deque(f, maxlen=n))


def plan(pipe: Pipeline, opts: RunOptions):
    """``[(stage, state, run, resume)]`` for the selected stages.

    A complete stage also runs again when a stage whose fields it uses runs
    (its inputs change): ``--force-stage cls_teacher`` retrains the G2SD
    student that learns from it and retests both.
    """
    rows, running = [], set()
    for stage in select(pipe, opts):
        state = stage.state(pipe.root)
        forced = opts.force or stage.name in opts.force_stages
        stale = [d for d in stage.deps if d in running]
        if stale and state.status == 'complete' and not forced:
            state = State('run', f'input stage {stale[0]!r} runs again')
        run = stage.type != 'file' and (forced or state.status != 'complete')
        resume = run and not forced and state.status == 'resume'
        if run:
            running.add(stage.name)
        rows.append((stage, state, run, resume))
    return rows


def _describe(stage: Stage, state: State, run: bool, resume: bool) -> str:
    if stage.type == 'file':
        return 'missing' if state.status == 'missing' else 'complete'
    if not run:
        return 'complete (skip)'
    if resume:
        return 'interrupted (resume)'
    return 'to run (forced)' if state.status == 'complete' else 'to run'


def _schedule(todo, jobs: int, run_stage, say) -> bool:
    """Run ``todo`` (``[(stage, state, resume)]``, in order) with up to ``jobs`` stages
    at a time; a stage starts once the stages it depends on (among ``todo``) succeeded,
    the first ready one in pipeline order first. After a failure no stage starts;
    the running ones finish. True when every stage succeeded."""
    if jobs == 1:
        return all(run_stage(*item) for item in todo)
    names = {stage.name for stage, _, _ in todo}
    finished = queue.Queue()
    pending, running, succeeded, failed = list(todo), set(), set(), False

    def ready(item) -> bool:
        return all(d in succeeded for d in item[0].deps + item[0].after if d in names)

    def work(item, together):
        finished.put((item[0].name, run_stage(*item, together=together)))

    while pending or running:
        if not failed:
            startable = [item for item in pending if ready(item)][:jobs - len(running)]
            # a stage that starts alone (nothing else ready) gets all the cores
            together = len(running) + len(startable)
            for item in startable:
                pending.remove(item)
                running.add(item[0].name)
                threading.Thread(target=work, args=(item, together), daemon=True).start()
        if not running:
            break
        name, ok = finished.get()
        running.discard(name)
        if ok:
            succeeded.add(name)
        else:
            failed = True
            if running:
                say(f'waiting for the running stage(s) to finish: {", ".join(sorted(running))}')
    return not failed and not pending


def run_pipeline(pipe: Pipeline, opts: RunOptions, out: TextIO = None) -> int:
    """Run (or, ``dry_run``, print) the pipeline; 0 on success, 1 on a failed stage."""
    out = out or sys.stdout
    err = sys.stderr if out is sys.stdout else out

    def say(msg: str) -> None:
        out.write(f'[pipeline] {msg}\n')
        out.flush()

    rows = plan(pipe, opts)
    launcher = opts.launcher
    say(f'{pipe.path}: {len(rows)} stage(s), work dir {pipe.work_dir}'
        + (' (dry run)' if opts.dry_run else ''))
    missing = [(s, st) for s, st, _, _ in rows if st.status == 'missing']
    if opts.dry_run:
        for stage, state, run, resume in rows:
            say(f'{stage.name} ({stage.type}): {_describe(stage, state, run, resume)} -- '
                f'{state.reason}')
            cmd = launcher.build(stage, resume)
            if cmd is not None:
                say(f'  $ {show(*cmd)}')
        for stage, state in missing:
            say(f'warning: stage {stage.name!r}: {state.reason}')
        return 0
    if missing:
        for stage, state in missing:
            err.write(f'error: stage {stage.name!r}: {state.reason}\n')
        return 1

    log_dir = pipe.abspath(osp.join(pipe.work_dir, 'logs'))
    timing: Dict[str, Dict] = {}
    t_start = time.time()

    def save_timing() -> None:
        os.makedirs(log_dir, exist_ok=True)
        with open(osp.join(log_dir, 'timing.json'), 'w') as f:
            json.dump(timing, f, indent=2)

    lock = threading.Lock()
    jobs = max(1, opts.jobs)

    def run_stage(stage: Stage, state: State, resume: bool, together: int = 1) -> bool:
        """Run one stage; False (after reporting why) when it fails. ``together``: the
        stages expected to run beside it; each gets its share of the cores as
        OMP_NUM_THREADS (unless the user set it)."""
        threads = {} if jobs == 1 or 'OMP_NUM_THREADS' in os.environ else {
            'OMP_NUM_THREADS': str(max(1, (os.cpu_count() or 1) // together))}
        with lock:
            say(f'{stage.name}: {state.reason}' + ('' if resume else
                                                     ' (forced)' if state.status == 'complete'
                                                     else ''))
            argv, extra_env = launcher.build(stage, resume)
            extra_env = {**threads, **extra_env}
            say(f'$ {show(argv, extra_env)}')
        log_path = osp.join(log_dir, f'{stage.name}.log')
        t0 = time.time()
        code = _run_logged(argv, _child_env(pipe, extra_env, launcher), pipe.root, log_path,
                           out if jobs == 1 else None)
        with lock:
            timing[stage.name] = dict(seconds=round(time.time() - t0, 1), skipped=False)
            save_timing()
            if code != 0:
                err.write(f"error: stage '{stage.name}' failed (exit {code}); log: {log_path}\n"
                          f'--- last {TAIL_LINES} lines of the log ---\n{_tail(log_path)}')
                err.flush()
                return False
            after = stage.state(pipe.root)
            if stage.type != 'command' or stage.spec.get('outputs'):
                if after.status != 'complete':
                    err.write(f"error: stage '{stage.name}' exited 0 but is not complete "
                              f'({after.reason}); log: {log_path}\n')
                    err.flush()
                    return False
            say(f'{stage.name}: done in {timing[stage.name]["seconds"]:.0f} s')
        return True

    todo = []
    for stage, state, run, resume in rows:
        if run:
            todo.append((stage, state, resume))
        else:
            say(f'{stage.name}: skip ({state.reason})')
            timing[stage.name] = dict(seconds=0.0, skipped=True)
    if not _schedule(todo, jobs, run_stage, say):
        return 1
    save_timing()
    table = pipe.stages.get('table')
    if table is not None and table.fields.get('output') and osp.isfile(
            pipe.abspath(table.fields['output'])):
        say(f'retention table ({table.fields["output"]}):')
        with open(pipe.abspath(table.fields['output'])) as f:
            out.write(f.read())
    say('time per stage:')
    for name, t in timing.items():
        took = 'skipped' if t['skipped'] else f'{t["seconds"]:.0f} s'
        say(f'  {name:<24} {took}')
    say(f'finished in {time.time() - t_start:.0f} s; logs and timing.json in {log_dir}')
    return 0
