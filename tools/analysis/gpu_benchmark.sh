#!/usr/bin/env bash
# Benchmark every G2SD stage at full size on one device and print a table.
#
#   tools/analysis/gpu_benchmark.sh [--device cuda] [--dtype bf16] [--stages "gd cls det seg"]
#       [--batch N] [--img-size PX] [--warmup N] [--iters N] [--out DIR] [--dry-run]
#
# Each stage runs tools/analysis/benchmark.py with the recipe's per-GPU batch
# (gd 512, cls 128, det 8, seg 2) and input size (224, 224, 1024, 512) unless
# --batch / --img-size override them for all stages (seg takes at least 2).
# The JSON line of each stage is kept in --out (default: work_dirs/benchmark);
# the table shows img/s, peak memory, distillation overhead and the fraction
# of the measured matmul peak. --dry-run prints the commands without running them.
# Reduced-size check on a CPU:
#   tools/analysis/gpu_benchmark.sh --device cpu --img-size 64 --batch 1 --iters 1
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
PYTHON="${PYTHON:-python}"
DEVICE=cuda
DTYPE=bf16
STAGES="gd cls det seg"
BATCH=""
IMG_SIZE=""
WARMUP=3
ITERS=10
OUT="work_dirs/benchmark"
DRY_RUN=0

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --device) DEVICE="$2"; shift 2 ;;
        --dtype) DTYPE="$2"; shift 2 ;;
        --stages) STAGES="$2"; shift 2 ;;
        --batch) BATCH="$2"; shift 2 ;;
        --img-size) IMG_SIZE="$2"; shift 2 ;;
        --warmup) WARMUP="$2"; shift 2 ;;
        --iters) ITERS="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        --dry-run) DRY_RUN=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "gpu_benchmark.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done

declare -A RECIPE_BATCH=([gd]=512 [cls]=128 [det]=8 [seg]=2)
for stage in $STAGES; do
    if [[ -z "${RECIPE_BATCH[$stage]:-}" ]]; then
        echo "gpu_benchmark.sh: unknown stage '$stage' (gd, cls, det, seg)" >&2
        exit 2
    fi
done

mkdir -p "$OUT"
results=()
for stage in $STAGES; do
    batch="${BATCH:-${RECIPE_BATCH[$stage]}}"
    # seg trains BatchNorm on 1x1 pooled maps (UPerHead): it needs two images
    [[ $stage == seg && $batch -lt 2 ]] && batch=2
    cmd=("$PYTHON" "$ROOT/tools/analysis/benchmark.py" --stage "$stage" --device "$DEVICE"
         --dtype "$DTYPE" --batch "$batch"
         --warmup "$WARMUP" --iters "$ITERS")
    [[ -n "$IMG_SIZE" ]] && cmd+=(--img-size "$IMG_SIZE")
    if [[ $DRY_RUN -eq 1 ]]; then
        echo "${cmd[*]}"
        continue
    fi
    echo "== $stage: ${cmd[*]}" >&2
    (cd "$ROOT" && "${cmd[@]}") | tail -n 1 > "$OUT/$stage.json"
    results+=("$OUT/$stage.json")
done
[[ $DRY_RUN -eq 1 ]] && exit 0

"$PYTHON" - "${results[@]}" <<'EOF'
import json
import sys

rows = []
for path in sys.argv[1:]:
    try:
        with open(path) as f:
            rows.append(json.load(f))
    except (OSError, ValueError) as e:
        sys.exit(f'{path}: no benchmark result ({type(e).__name__}: {e}); see the stage log')
head = ('stage', 'batch', 'img', 'img/s', 'student img/s', 'peak MiB', 'overhead',
        'TFLOP/s', 'of peak')
print('| ' + ' | '.join(head) + ' |')
print('|' + '---|' * len(head))
for r in rows:
    cells = (r['stage'], r['batch'], r['img_size'], r['img_per_s'], r['student_img_per_s'],
             r['peak_mem_mb'], r['overhead'], r.get('achieved_tflops', '-'),
             r.get('peak_fraction', '-'))
    print('| ' + ' | '.join(map(str, cells)) + ' |')
if rows:
    print(f"device: {rows[0]['device']}, dtype: {rows[0]['dtype']}, torch {rows[0]['torch']}")
EOF
