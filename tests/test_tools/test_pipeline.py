"""tools/pipeline.py and g2sd_mm.pipeline: skipping, rerunning, resuming, errors,
launchers, the shipped pipelines (dry run) and tools/analysis/demo_seeds.py."""
import importlib.util
import io
import json
import os
import os.path as osp
import textwrap

import pytest

from g2sd_mm.pipeline import (Launcher, PipelineError, RunOptions, load_pipeline,
                              run_pipeline)
from g2sd_mm.pipeline.spec import ROOT, TEMPLATE

SHIPPED = ['pipelines/shapes_demo.py', 'pipelines/shapes_demo_quick.py',
           'pipelines/vit-s_in1k_coco_ade20k.py', 'pipelines/vit-t_in1k_coco_ade20k.py']
CLS_CFG = 'configs/cls/vit-64d-p8-mae-ft_1xb32-15e_shapes.py'

# appends its name to COUNTER, writes each OUTPUT; `--fail CODE` prints 30 lines and exits CODE
STEP = '''
import sys
args = sys.argv[1:]
name, counter = args[0], args[1]
with open(counter, 'a') as f:
    f.write(name + '\\n')
if args[2:3] == ['--fail']:
    for i in range(30):
        print(f'{name} line {i}')
    sys.exit(int(args[3]))
for out in args[2:]:
    with open(out, 'w') as f:
        f.write(name)
print(f'{name} ran')
'''


def write_pipeline(tmp_path, stages: str, extra: str = '') -> str:
    (tmp_path / 'step.py').write_text(STEP)
    path = tmp_path / 'pipe.py'
    path.write_text(textwrap.dedent(f'''
        work_dir = {str(tmp_path / 'work')!r}
        step = {str(tmp_path / 'step.py')!r}
        counter = {str(tmp_path / 'counter.txt')!r}
        ''') + textwrap.dedent(extra) + 'stages = dict(\n' + textwrap.dedent(stages) + ')\n')
    return str(path)


def ran(tmp_path):
    counter = tmp_path / 'counter.txt'
    return counter.read_text().split() if counter.exists() else []


def run(path, out=None, **kwargs):
    out = out if out is not None else io.StringIO()
    code = run_pipeline(load_pipeline(path, **{k: kwargs.pop(k) for k in
                                               ('options', 'work_dir', 'seed') if k in kwargs}),
                        RunOptions(**kwargs), out=out)
    return code, out.getvalue()


CHAIN = '''
    a=dict(type='command', cmd=['{step}', 'a', '{counter}', '{work_dir}/a.txt'],
           outputs=['{work_dir}/a.txt']),
    b=dict(type='command', cmd=['{step}', 'b', '{counter}', '{work_dir}/b.txt', '{a.output}'],
           outputs=['{work_dir}/b.txt']),
    c=dict(type='command', cmd=['{step}', 'c', '{counter}', '{work_dir}/c.txt'],
           outputs=['{work_dir}/c.txt']),
'''


def test_skips_complete_reruns_incomplete_and_dependents(tmp_path):
    path = write_pipeline(tmp_path, CHAIN)
    code, out = run(path)
    assert code == 0 and ran(tmp_path) == ['a', 'b', 'c']
    assert '$ ' in out and 'a ran' in out  # command printed, output teed
    assert (tmp_path / 'work' / 'logs' / 'b.log').read_text() == 'b ran\n'
    timing = json.loads((tmp_path / 'work' / 'logs' / 'timing.json').read_text())
    assert set(timing) == {'a', 'b', 'c'} and not timing['a']['skipped']

    code, out = run(path)  # everything complete
    assert code == 0 and ran(tmp_path) == ['a', 'b', 'c']
    assert out.count(': skip (outputs exist') == 3
    timing = json.loads((tmp_path / 'work' / 'logs' / 'timing.json').read_text())
    assert all(t['skipped'] for t in timing.values())

    os.remove(tmp_path / 'work' / 'c.txt')  # an output missing: only that stage reruns
    run(path)
    assert ran(tmp_path) == ['a', 'b', 'c', 'c']

    run(path, force_stages=['a'])  # b uses a's output: it reruns too, c does not
    assert ran(tmp_path)[4:] == ['a', 'b']
    run(path, force=True)
    assert ran(tmp_path)[6:] == ['a', 'b', 'c']
    run(path, force=True, only=['c'])
    run(path, force=True, from_stage='b')
    assert ran(tmp_path)[9:] == ['c', 'b', 'c']


def _tool(name, rel):
    spec = importlib.util.spec_from_file_location(name, osp.join(ROOT, 'tools', rel))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_failing_stage_stops_with_its_log(tmp_path, capsys):
    path = write_pipeline(tmp_path, '''
        ok=dict(type='command', cmd=['{step}', 'ok', '{counter}']),
        boom=dict(type='command', cmd=['{step}', 'boom', '{counter}', '--fail', '3']),
        after=dict(type='command', cmd=['{step}', 'after', '{counter}']),
    ''')
    code = _tool('pipeline', 'pipeline.py').main([path])
    stderr = capsys.readouterr().err
    log = osp.join(str(tmp_path), 'work', 'logs', 'boom.log')
    assert code == 1
    assert f"error: stage 'boom' failed (exit 3); log: {log}" in stderr
    assert 'boom line 29' in stderr and 'boom line 9\n' not in stderr  # the last 20 lines
    assert 'boom line 0' in open(log).read()
    assert ran(tmp_path) == ['ok', 'boom']


def test_stage_that_does_not_write_its_output_fails(tmp_path):
    path = write_pipeline(tmp_path, '''
        a=dict(type='command', cmd=['{step}', 'a', '{counter}', '{work_dir}/other.txt'],
               outputs=['{work_dir}/a.txt']),
        b=dict(type='command', cmd=['{step}', 'b', '{counter}']),
    ''')
    code, out = run(path)
    assert code == 1 and ran(tmp_path) == ['a']
    assert "error: stage 'a' exited 0 but is not complete (output missing: " in out


@pytest.mark.parametrize('stage, message', [
    ("dict(type='command', cmd=['{step}', '{nope}'])",
     "stage 'x', field 'cmd'[1]: {nope}: unknown variable"),
    ("dict(type='command', cmd=['{step}', '{later.output}'])",
     "stage 'x', field 'cmd'[1]: {later.output}: stage 'later' runs later"),
    ("dict(type='command', cmd=['{step}', '{gone.output}'])",
     "stage 'x', field 'cmd'[1]: {gone.output}: unknown stage 'gone'"),
    ("dict(type='command', cmd=['{step}', '{first.checkpoint}'])",
     "stage 'x', field 'cmd'[1]: {first.checkpoint}: stage 'first' (command) has no field "
     "'checkpoint'"),
    ("dict(type='train', config='configs/none.py')", "stage 'x': config not found"),
    ("dict(type='traim', config='c.py')", "stage 'x': type must be one of"),
])
def test_template_errors_before_anything_runs(tmp_path, stage, message):
    path = write_pipeline(tmp_path, f'''
        first=dict(type='command', cmd=['{{step}}', 'first', '{{counter}}', '{{work_dir}}/f'],
                   outputs=['{{work_dir}}/f']),
        x={stage},
        later=dict(type='command', cmd=['{{step}}'], outputs=['{{work_dir}}/l']),
    ''')
    with pytest.raises(PipelineError) as e:
        run(path)
    assert message in str(e.value).replace('"', "'")
    assert ran(tmp_path) == []


def test_variables_and_overrides(tmp_path):
    path = write_pipeline(tmp_path, '''
        a=dict(type='command', cmd=['{step}', '{tag}', '{counter}', '{out}'], outputs=['{out}']),
    ''', extra="tag = 'v1'\nout = '{work_dir}/{tag}.txt'\n")
    run(path, options={'tag': 'v2'}, work_dir=str(tmp_path / 'other'))
    assert ran(tmp_path) == ['v2'] and (tmp_path / 'other' / 'v2.txt').exists()
    with pytest.raises(PipelineError, match="has no variable 'tga'"):
        load_pipeline(path, options={'tga': 'x'})


def test_missing_file_stage_names_file_and_hint(tmp_path):
    path = write_pipeline(tmp_path, '''
        weights=dict(type='file', path='{work_dir}/teacher.pth', hint='official MAE release'),
        a=dict(type='command', cmd=['{step}', 'a', '{counter}', '{weights.path}']),
    ''')
    code, out = run(path)
    assert code == 1 and ran(tmp_path) == []
    assert f"error: stage 'weights': required file not found: {tmp_path}/work/teacher.pth " \
           '(official MAE release)' in out
    code, out = run(path, dry_run=True)
    assert code == 0 and 'weights (file): missing' in out


@pytest.mark.parametrize('path', SHIPPED)
def test_shipped_pipelines_resolve(path):
    """Every template resolves, every config exists, every command is printed."""
    pipe = load_pipeline(osp.join(ROOT, path))
    out = io.StringIO()
    assert run_pipeline(pipe, RunOptions(dry_run=True), out=out) == 0
    out = out.getvalue()
    for stage in pipe.stages.values():
        assert f'[pipeline] {stage.name} ({stage.type}): ' in out
        for text in json.dumps(stage.spec).split('"'):
            assert not TEMPLATE.search(text), (stage.name, text)
        if stage.type in ('train', 'test'):
            assert osp.isfile(osp.join(ROOT, stage.spec['config'])), stage.spec['config']
        if stage.type == 'command' and stage.name != 'predictions':
            assert osp.isfile(osp.join(ROOT, stage.spec['cmd'][0])), stage.spec['cmd'][0]
    assert set(pipe.results) == {'cls', 'det', 'seg'}
    table = ' '.join(pipe.stages['table'].spec['cmd'])
    assert all(pipe.stages[t].fields['metrics'] in table
               for tests in pipe.results.values() for t in tests)


def test_quick_pipeline_shrinks_every_training():
    pipe = load_pipeline(osp.join(ROOT, 'pipelines/shapes_demo_quick.py'))
    trains = [s for s in pipe.stages.values() if s.type == 'train']
    assert len(trains) == 11
    for stage in trains:
        assert stage.fields['checkpoint'].endswith(('epoch_1.pth', 'iter_2.pth')), stage.name
    assert 'not meaningful' in ' '.join(pipe.stages['table'].spec['cmd'])


def test_launcher_commands(capsys):
    pipe = load_pipeline(osp.join(ROOT, 'pipelines/shapes_demo.py'))
    train, test = pipe.stages['gd'], pipe.stages['cls_teacher_test']
    argv, env = Launcher(gpus=2).build(train, resume=True)
    assert argv[:7] == ['bash', 'tools/dist_train.sh', train.spec['config'], '2', '--work-dir',
                        'work_dirs/demo/gd', '--resume'] and env == {}
    assert 'model.teacher_ckpt=work_dirs/demo/mae_teacher/epoch_15.pth' in argv
    argv, _ = Launcher(gpus=2).build(test)
    assert argv[:5] == ['bash', 'tools/dist_test.sh', test.spec['config'],
                        'work_dirs/demo/cls_teacher/epoch_15.pth', '2']
    argv, env = Launcher(kind='slurm', partition='gpu', gpus=16).build(train)
    assert argv[:6] == ['bash', 'tools/slurm_train.sh', 'gpu', 'gd', train.spec['config'],
                        'work_dirs/demo/gd'] and env == {'GPUS': '16', 'GPUS_PER_NODE': '8'}
    argv, env = Launcher(kind='slurm', partition='gpu', gpus=2).build(test)
    assert argv[:6] == ['bash', 'tools/slurm_test.sh', 'gpu', 'cls_teacher_test',
                        test.spec['config'], 'work_dirs/demo/cls_teacher/epoch_15.pth']
    assert '--out-metrics' in argv and env['GPUS'] == '2'
    # the scripts take the arguments in that order
    for script, usage in [('dist_train.sh', 'CONFIG NUM_PROCS'),
                          ('dist_test.sh', 'CONFIG CHECKPOINT NUM_PROCS'),
                          ('slurm_train.sh', 'PARTITION JOB_NAME CONFIG [WORK_DIR]'),
                          ('slurm_test.sh', 'PARTITION JOB_NAME CONFIG CHECKPOINT')]:
        assert usage in open(osp.join(ROOT, 'tools', script)).read()
    with pytest.raises(ValueError, match='partition'):
        Launcher(kind='slurm')
    # the command line
    assert _tool('pipeline', 'pipeline.py').main([
        osp.join(ROOT, 'pipelines/shapes_demo.py'), '--dry-run', '--gpus', '2',
        '--only', 'gd', 'gd_export']) == 0
    stdout = capsys.readouterr().out
    assert '$ bash tools/dist_train.sh configs/pretrain/' in stdout
    assert 'g2sd_gd_export.py work_dirs/demo/gd/epoch_8.pth' in stdout
    assert _tool('pipeline', 'pipeline.py').main([
        osp.join(ROOT, 'pipelines/shapes_demo.py'), '--dry-run', '--launcher', 'slurm',
        '--partition', 'p1', '--gpus', '4', '--only', 'gd', 'cls_teacher_test']) == 0
    stdout = capsys.readouterr().out
    assert '$ GPUS=4 GPUS_PER_NODE=4 bash tools/slurm_train.sh p1 gd configs/pretrain/' in stdout
    assert '$ GPUS=4 GPUS_PER_NODE=4 bash tools/slurm_test.sh p1 cls_teacher_test ' in stdout


def _demo_seeds():
    return _tool('demo_seeds', 'analysis/demo_seeds.py')


def test_demo_seeds_aggregates_fake_metrics(tmp_path):
    tests = ''.join(
        f"    {t}_{r}=dict(type='test', config='{CLS_CFG}', checkpoint='x.pth'),\n"
        for t in ('cls', 'seg') for r in ('teacher', 'student', 'g2sd'))
    path = write_pipeline(tmp_path, '''
        data=dict(type='command', cmd=['{step}', 'data', '{counter}', '{work_dir}/d.txt'],
                  outputs=['{work_dir}/d.txt']),
        use=dict(type='command', cmd=['{step}', 'use', '{counter}', '{work_dir}/u.txt',
                                      '{data.output}'], outputs=['{work_dir}/u.txt']),
    ''' + tests, extra="results = dict(cls=['cls_teacher', 'cls_student', 'cls_g2sd'], "
                       "seg=['seg_teacher', 'seg_student', 'seg_g2sd'])\n")
    values = {0: (50, 40, 45, 30, 20, 25), 1: (52, 41, 44, 31, 22, 21), 2: (48, 42, 46, 29, 21, 23)}
    work = tmp_path / 'seeds'
    for seed, (ct, cs, cg, st, ss, sg) in values.items():
        for name, key, value in [('cls_teacher', 'accuracy/top1', ct),
                                 ('cls_student', 'accuracy/top1', cs),
                                 ('cls_g2sd', 'accuracy/top1', cg), ('seg_teacher', 'mIoU', st),
                                 ('seg_student', 'mIoU', ss), ('seg_g2sd', 'mIoU', sg)]:
            d = work / f'seed{seed}' / name
            d.mkdir(parents=True)
            (d / 'metrics.json').write_text(json.dumps({key: value}))
    assert _demo_seeds().main([path, '--seeds', '0', '1', '2', '--work-dir', str(work)]) == 0
    assert ran(tmp_path) == ['data', 'use', 'use', 'use']  # shared `data` ran once
    assert (work / 'seed2' / 'u.txt').exists() and not (work / 'seed2' / 'd.txt').exists()
    md = (work / 'seeds.md').read_text()
    assert '| classification | top-1 (%) | 50.0 ± 2.0 (48.0..52.0) | 41.0 ± 1.0 (40.0..42.0) ' \
           '| 45.0 ± 1.0 (44.0..46.0) |' in md
    assert 'classification, top-1 (%): teacher > student only in 3/3 seeds, G2SD > student ' \
           'only in 3/3 seeds: held in every seed' in md
    assert 'segmentation, mIoU: teacher > student only in 3/3 seeds, G2SD > student only in ' \
           '2/3 seeds: did NOT hold in every seed' in md
    assert 'Wall time:' in md
    os.remove(work / 'seed1' / 'seg_g2sd' / 'metrics.json')
    (work / 'seed1' / 'seg_g2sd' / 'metrics.json').write_text('{"aAcc": 1}')
    assert _demo_seeds().main([path, '--seeds', '0', '1', '--work-dir', str(work)]) == 2


@pytest.mark.slow
def test_train_stage_resumes_interrupted_run(tmp_path, shapes_root, monkeypatch):
    """One real tiny training: 1 epoch, then the schedule extended to 2 epochs: the
    runner finds last_checkpoint -> epoch_1.pth and resumes to epoch_2.pth."""
    path = tmp_path / 'train.py'
    path.write_text(textwrap.dedent(f'''
        work_dir = {str(tmp_path / 'work')!r}
        epochs = 1
        stages = dict(mae=dict(type='train',
                               config='configs/pretrain/mae_vit-tiny-p8_1xb32-15e_shapes.py',
                               cfg_options={{
                                   'train_dataloader.dataset.data_root': {shapes_root + '/cls'!r},
                                   'train_cfg.max_epochs': '{{epochs}}',
                                   'default_hooks.checkpoint.interval': 1,
                                   'default_hooks.logger.interval': 1}}))
        '''))
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    code, out = run(str(path))
    assert code == 0, out
    work = tmp_path / 'work' / 'mae'
    assert (work / 'epoch_1.pth').is_file()
    code, out = run(str(path))
    assert 'mae: skip (final checkpoint exists' in out
    code, out = run(str(path), options={'epochs': 2}, dry_run=True)
    assert 'mae (train): interrupted (resume) -- interrupted: resuming from' in out
    code, out = run(str(path), options={'epochs': 2})
    assert code == 0, out
    assert '--resume' in out and 'resumed epoch: 1' in out
    assert 'Epoch(train) [2]' in out
    assert (work / 'epoch_2.pth').is_file()


# sleeps, then records (name, start, end) in the counter file as one line
TIMED_STEP = '''
import sys, time
name, counter, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
start = time.time()
time.sleep(seconds)
if sys.argv[4:5] == ['--fail']:
    sys.exit(4)
with open(counter, 'a') as f:
    f.write(f'{name},{start},{time.time()}\\n')
'''


def test_jobs_run_independent_stages_together_and_keep_dependencies(tmp_path):
    (tmp_path / 'timed.py').write_text(TIMED_STEP)
    path = write_pipeline(tmp_path, '''
        data=dict(type='command', cmd=['{timed}', 'data', '{counter}', '0.5']),
        x=dict(type='command', cmd=['{timed}', 'x', '{counter}', '1.5'], after=['data']),
        y=dict(type='command', cmd=['{timed}', 'y', '{counter}', '1.5'], after=['data']),
        z=dict(type='command', cmd=['{timed}', 'z', '{counter}', '0.1'], after=['x']),
    ''', extra=f'timed = {str(tmp_path / "timed.py")!r}\n')
    pipe = load_pipeline(path)
    assert pipe.stages['z'].after == ['x'] and pipe.stages['x'].after == ['data']
    assert pipe.stages['x'].deps == []  # uses no field of `data`
    code, out = run(path, jobs=2)
    assert code == 0, out
    spans = {line.split(',')[0]: tuple(map(float, line.split(',')[1:]))
             for line in (tmp_path / 'counter.txt').read_text().split()}
    assert spans['x'][0] >= spans['data'][1] and spans['y'][0] >= spans['data'][1]
    assert spans['x'][0] < spans['y'][1] and spans['y'][0] < spans['x'][1]  # overlapped
    assert spans['z'][0] >= spans['x'][1]
    assert "OMP_NUM_THREADS=" in out or 'OMP_NUM_THREADS' in os.environ


def test_jobs_failure_starts_nothing_more(tmp_path):
    (tmp_path / 'timed.py').write_text(TIMED_STEP)
    path = write_pipeline(tmp_path, '''
        bad=dict(type='command', cmd=['{timed}', 'bad', '{counter}', '0.1', '--fail']),
        slow=dict(type='command', cmd=['{timed}', 'slow', '{counter}', '1.0']),
        later=dict(type='command', cmd=['{timed}', 'later', '{counter}', '0.1'],
                   after=['bad']),
    ''', extra=f'timed = {str(tmp_path / "timed.py")!r}\n')
    err = io.StringIO()
    code, out = run(path, out=err, jobs=2)
    assert code == 1
    assert "error: stage 'bad' failed (exit 4)" in out
    names = [line.split(',')[0] for line in (tmp_path / 'counter.txt').read_text().split()]
    assert names == ['slow']  # the running stage finished, the dependent one never ran


def test_after_must_name_an_earlier_stage(tmp_path):
    path = write_pipeline(tmp_path, '''
        a=dict(type='command', cmd=['{step}', 'a', '{counter}'], after=['b']),
        b=dict(type='command', cmd=['{step}', 'b', '{counter}']),
    ''')
    with pytest.raises(PipelineError, match="stage 'a', field 'after': 'b' runs later"):
        load_pipeline(path)


def test_after_orders_without_rerunning(tmp_path):
    """A stage that only runs `after` another is not rerun because that one runs again
    (e.g. a data generator that always runs)."""
    path = write_pipeline(tmp_path, '''
        gen=dict(type='command', cmd=['{step}', 'gen', '{counter}']),
        use=dict(type='command', cmd=['{step}', 'use', '{counter}', '{work_dir}/u.txt'],
                 outputs=['{work_dir}/u.txt'], after=['gen']),
    ''')
    assert run(path)[0] == 0 and run(path, jobs=2)[0] == 0
    assert ran(tmp_path) == ['gen', 'use', 'gen']
