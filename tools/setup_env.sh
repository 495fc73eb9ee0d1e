#!/usr/bin/env bash
# Create (or finish) the project's virtual environment with the pinned stack.
#
#   tools/setup_env.sh            # idempotent; `make venv` calls it
#
# Environment variables:
#   G2SD_VENV        where the environment lives (default: <repo>/.venv)
#   PYTHON           interpreter used to create it (default: python3)
#   G2SD_WHEELHOUSE  a folder holding a prebuilt mmcv-2.1.0 wheel
#   G2SD_CACHE       per-user cache for built wheels
#                    (default: ${XDG_CACHE_HOME:-~/.cache}/g2sd_mm)
#
# mmcv 2.1.0 with compiled ops has no wheel for torch 2.14, so we take a
# prebuilt one from (in order) $G2SD_WHEELHOUSE, ../shared/wheels, the per-user
# cache; failing that we build it from its source distribution (C++20 patch,
# MMCV_WITH_OPS=1) and keep the result in the cache. The environment is only
# marked ready (a stamp file) after every step and an import check passed, so an
# interrupted or failed install is redone on the next call, never trusted.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${G2SD_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
CACHE="${G2SD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/g2sd_mm}"
STAMP="$VENV/.g2sd-ready"
MMCV_VERSION=2.1.0

log() { printf '[setup_env] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; rm -f "$STAMP"; exit 1; }

rm -f "$STAMP"
start=$(date +%s)

if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtual environment $VENV ($("$PYTHON" --version 2>&1))"
  "$PYTHON" -m venv "$VENV" || die "could not create $VENV with $PYTHON"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check)
# pip, with the "Location ... is ignored" notes of some machine-wide index
# settings filtered out (everything else, errors included, is shown).
pipq() {
  "${PIP[@]}" "$@" 2>&1 | { grep -v 'is ignored: it is neither a file nor a directory' || true; }
  return "${PIPESTATUS[0]}"
}
PYTAG=$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')

log "installing torch/torchvision (local wheels when present)"
pipq install -q wheel \
  $(grep -E '^(torch|torchvision)==' "$ROOT/requirements/runtime.txt") \
  || die "torch install failed"

find_mmcv_wheel() {
  local d
  for d in "${G2SD_WHEELHOUSE:-}" "$ROOT/../shared/wheels" "$CACHE/wheels"; do
    [ -n "$d" ] && [ -d "$d" ] || continue
    local w
    w=$(ls "$d"/mmcv-${MMCV_VERSION}-${PYTAG}-${PYTAG}-linux_*.whl 2>/dev/null | head -n 1 || true)
    if [ -n "$w" ]; then echo "$w"; return 0; fi
  done
  return 1
}

build_mmcv_wheel() {
  local work; work=$(mktemp -d)
  local logf="$CACHE/mmcv-build.log"
  mkdir -p "$CACHE/wheels"
  log "no prebuilt mmcv ${MMCV_VERSION} wheel found; building from source (10-20 min on 2 cores)"
  log "build log: $logf"
  pipq install -q -r "$ROOT/requirements/build.txt" "numpy<2" \
    "$(grep -E '^mmengine==' "$ROOT/requirements/runtime.txt")" || die "build requirements failed"
  pipq download -q --no-deps --no-binary :all: --no-build-isolation \
    -d "$work" "mmcv==${MMCV_VERSION}" || die "could not download the mmcv ${MMCV_VERSION} sdist"
  tar -xzf "$work"/mmcv-${MMCV_VERSION}.tar.gz -C "$work" || die "could not unpack the mmcv sdist"
  local src="$work/mmcv-${MMCV_VERSION}"
  # torch >= 2.10 headers require C++20; mmcv 2.1.0 asks for C++17.
  sed -i 's/-std=c++17/-std=c++20/g' "$src/setup.py"
  grep -q -- '-std=c++20' "$src/setup.py" || die "C++20 patch did not apply to $src/setup.py"
  local jobs; jobs=$(nproc 2>/dev/null || echo 2)
  set +e
  (cd "$src" && MMCV_WITH_OPS=1 MAX_JOBS="$jobs" "${PIP[@]}" wheel -v --no-build-isolation \
      --no-deps -w "$CACHE/wheels" . ) > "$logf" 2>&1 &
  local pid=$! last=""
  while kill -0 "$pid" 2>/dev/null; do
    sleep 30
    local cur; cur=$(grep -oE '\[[0-9]+/[0-9]+\]' "$logf" | tail -n 1 || true)
    if [ -n "$cur" ] && [ "$cur" != "$last" ]; then log "compiling mmcv ops $cur"; last=$cur;
    else log "still building mmcv ($(( $(date +%s) - start ))s)"; fi
  done
  wait "$pid"; local rc=$?
  set -e
  if [ $rc -ne 0 ]; then
    log "mmcv build failed (exit $rc); compiler output follows:"
    grep -E -B2 -A8 'error:|Error' "$logf" | tail -n 80 >&2 || tail -n 80 "$logf" >&2
    rm -f "$CACHE"/wheels/mmcv-${MMCV_VERSION}-*.whl
    rm -rf "$work"
    die "mmcv build failed; full log in $logf"
  fi
  rm -rf "$work"
}

WHEEL=$(find_mmcv_wheel || true)
if [ -z "$WHEEL" ]; then
  build_mmcv_wheel
  WHEEL=$(find_mmcv_wheel) || die "mmcv build produced no wheel in $CACHE/wheels"
fi
log "installing $(basename "$WHEEL") from $(dirname "$WHEEL")"
pipq install -q --no-deps "$WHEEL" || die "could not install $WHEEL"

log "installing the OpenMMLab stack and test tools"
pipq install -q -r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/tests.txt" \
  || die "pip install of requirements failed"
log "installing openmim (mim train/test) without its download-only dependencies"
pipq install -q $(grep -vE '^(#|openmim|$)' "$ROOT/requirements/mim.txt") \
  || die "pip install of requirements/mim.txt failed"
pipq install -q --no-deps $(grep -E '^openmim==' "$ROOT/requirements/mim.txt") \
  || die "openmim install failed"
pipq install -q --no-deps --no-build-isolation -e "$ROOT" || die "editable install of g2sd_mm failed"

log "checking the installation"
"$PY" - <<'EOF' || die "import check failed"
import torch, mmcv, mmengine, mmpretrain, mmdet, mmseg, timm
from mmcv.ops import nms, RoIAlign  # compiled ops must be present
import g2sd_mm, mim
print(f'[setup_env] torch {torch.__version__}, mmcv {mmcv.__version__}, mmengine {mmengine.__version__}, '
      f'mmpretrain {mmpretrain.__version__}, mmdet {mmdet.__version__}, mmseg {mmseg.__version__}, '
      f'timm {timm.__version__}, g2sd_mm {g2sd_mm.__version__}')
EOF

date -u +%FT%TZ > "$STAMP"
log "environment ready in $(( $(date +%s) - start ))s: $VENV"
