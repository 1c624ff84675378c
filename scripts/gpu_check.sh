#!/usr/bin/env bash
# One command for a machine with an NVIDIA GPU: runs on CUDA what the CPU test suite cannot, and writes the numbers
# to docs/GPU_CHECK.md (device name, date, every step's wall time and result). Measured: 8.7 minutes on one H200
# (2026-12-04, docs/GPU_CHECK.md), 90 s of it generating the N = 256 data.
#
#   bash scripts/gpu_check.sh            # from the repository root or anywhere; PYTHON=... to pick the interpreter
#
# Steps (each under its own time limit; a failed or timed-out step is reported and the others still run):
#   1. pytest -m cuda           the device tests (bf16 autocast, the stacked path, probes, views, checkpoints on CUDA)
#   2. bench_throughput.py      --device cuda for CNN-16, CNN-64 and ResNet-18 (tutorial pipeline vs idslab), and
#      bench_noise.py --step     a ResNet-18 step at N = 256 with IDS on every layer against IDS at fc1 (the cost the
#                                study's model leaves out of the Discussion's cells)
#   3. one full-protocol run per encoder (idslab train, docs/PROTOCOL.md defaults), timed, and from those times the
#      wall time of the full study (Tables 1, 2 and Figure 3) run one cell after another
#   4. notebook 01 headless with its GPU budgets (python notebooks/01_ids_vs_flip.py)
#   5. the whole study, `idslab reproduce all --device cuda` (idslab.study): its dry-run estimate, then the cells in
#      order inside STUDY_BUDGET_S seconds (default 540), records + tables packed into $STUDY_OUT/study.tar.gz
#      (default: $OUT when the device tool sets it, else the log folder); a cut loses nothing, rerun to continue
# GPU_CHECK_STUDY_ONLY=1 skips steps 1-4 (a 15-minute loan cannot hold both: the checks took 8.7 min on the H200).
# Exit status: 0 all steps passed, 1 a step failed or timed out, 2 no CUDA GPU (nothing is run or written).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x "$ROOT/.venv/bin/python" ]]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
OUT=${GPU_CHECK_OUT:-$ROOT/docs/GPU_CHECK.md}
rc=0
"$PYTHON" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 3)" 2>/dev/null || rc=$?
if [[ $rc -eq 3 ]]; then
  echo "gpu_check: torch sees no CUDA GPU on this machine, so there is nothing to check here (the CPU test suite" \
       "is 'make test'). Run this script on a machine with an NVIDIA GPU and a CUDA build of torch." >&2
  exit 2
elif [[ $rc -ne 0 ]]; then
  echo "gpu_check: '$PYTHON' cannot import torch: run 'make setup' (or set PYTHON=/path/to/python) first" >&2
  exit 2
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")
export IDSLAB_DATA=${IDSLAB_DATA:-$WORK/data}

DEVICE=$("$PYTHON" -c "import torch; print(torch.cuda.get_device_name())")
SMI=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -1 || true)
TORCH=$("$PYTHON" -c "import torch; print(torch.__version__, 'CUDA', torch.version.cuda)")
START=$(date -u +"%Y-%m-%d %H:%M UTC")
T_START=$(date +%s)
echo "gpu_check: $DEVICE ($SMI), torch $TORCH; logs in $WORK"

FAILED=0
STEPS=()
# step NAME LIMIT_S CMD...: run CMD with a time limit, log to $WORK/NAME.log, record "NAME | status | wall s"
step() {
  local name=$1 limit=$2; shift 2
  local t0 t1 rc=0
  t0=$(date +%s.%N)
  echo "== $name (limit ${limit}s): $*"
  timeout --kill-after=10 "$limit" "$@" > "$WORK/$name.log" 2>&1 || rc=$?
  t1=$(date +%s.%N)
  local wall status
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  if [[ $rc -eq 0 ]]; then status=passed
  elif [[ $rc -eq 124 || $rc -eq 137 ]]; then status="timed out"; FAILED=1
  else status="failed (exit $rc)"; FAILED=1; fi
  echo "   $status in ${wall}s"
  [[ $rc -eq 0 ]] || tail -n 20 "$WORK/$name.log" | sed 's/^/   | /'
  STEPS+=("| $name | $status | $wall |")
}

STUDY_ONLY=${GPU_CHECK_STUDY_ONLY:-0}
if [[ $STUDY_ONLY != 1 ]]; then
# 1. device tests
step cuda-tests 120 "$PYTHON" -m pytest -m cuda tests/test_cuda.py -q -p no:cacheprovider

# 2. throughput, tutorial pipeline vs idslab (the reference runs per-sample transforms in 8 DataLoader workers)
for enc in cnn16 cnn64 resnet18; do
  steps=20; stack=8
  [[ $enc == resnet18 ]] && { steps=10; stack=0; }
  step "bench-$enc" 120 "$PYTHON" benchmarks/bench_throughput.py --encoder "$enc" --device cuda --steps $steps \
       --stack $stack --workers 8
done
step bench-noise-resnet18 120 "$PYTHON" benchmarks/bench_noise.py --step resnet18 --tile 256 --batch 256 \
     --device cuda --rounds 3 --repeats 5

# 3. one full-protocol run per encoder (data generated into $IDSLAB_DATA first, timed apart)
ENCODERS=(cnn8 cnn16 cnn32 cnn64 cnn128 cnn256 resnet18 resnet50)
for n in 8 16 32 64 128 256; do
  step "data-meteor-$n" 120 "$PYTHON" -m idslab.cli data meteor --tile $n
done
for enc in "${ENCODERS[@]}"; do
  step "full-$enc" 180 "$PYTHON" -m idslab.cli train --encoder "$enc" --views ids --device cuda --quiet \
       --out "$WORK/full-$enc.json"
done

# 4. notebook 01, headless (outside marimo its buttons' cells run once by themselves), GPU budgets
step notebook-01 240 "$PYTHON" notebooks/01_ids_vs_flip.py
fi

# 5. the whole study (its own budget; the outer limit leaves a minute for packing the archive)
STUDY_BUDGET_S=${STUDY_BUDGET_S:-540}
STUDY_OUT=${STUDY_OUT:-${OUT:-$WORK/study}}
step study-dry-run 60 "$PYTHON" -m idslab.cli reproduce all --dry-run --device cuda --results "$WORK/results"
step study $(( ${STUDY_BUDGET_S%.*} + 90 )) "$PYTHON" -m idslab.cli reproduce all --device cuda \
     --budget-s "$STUDY_BUDGET_S" --results "${STUDY_RESULTS:-$WORK/results}" --out "$STUDY_OUT" \
     ${IDSLAB_CIFAR_DIR:+--cifar-dir "$IDSLAB_CIFAR_DIR"} ${STUDY_GRIDS:+--grids "$STUDY_GRIDS"}

# ------------------------------------------------------------------------------------------------ the report
TOTAL=$(( $(date +%s) - T_START ))
"$PYTHON" - "$WORK" "$OUT" "$DEVICE" "$SMI" "$TORCH" "$START" "$TOTAL" "${STEPS[@]}" <<'PYEOF'
import json, re, sys
from pathlib import Path
work, out, device, smi, torch_v, start, total, *steps = sys.argv[1:]
work = Path(work)
lines = [f"# GPU check: {device}", "",
         f"`bash scripts/gpu_check.sh`, {start}; nvidia-smi: {smi or 'n/a'}; torch {torch_v}; "
         f"the whole check took {int(total) / 60:.1f} min (budget: 8).",
         "Written by the script itself; every number below was measured in that run.", "",
         "| step | result | wall (s) |", "|---|---|---:|", *steps, ""]
study_log = work / "study.log"
if study_log.exists():
    tail = [l for l in study_log.read_text().splitlines() if l.startswith(("estimate", "study:", "by encoder"))]
    lines += ["## The whole study (idslab reproduce all --device cuda)", "", *[f"    {l}" for l in tail[-12:]], ""]
lines += ["## Throughput (benchmarks/bench_throughput.py --device cuda)", ""]
for enc in ("cnn16", "cnn64", "resnet18"):
    log = work / f"bench-{enc}.log"
    table = [l for l in log.read_text().splitlines() if l.startswith("|") or l.startswith(enc)] if log.exists() else []
    lines += [f"**{enc}**", "", *(table or ["(no result: see the step table)"]), ""]
log = work / "bench-noise-resnet18.log"
table = [l for l in log.read_text().splitlines() if l.startswith("|")] if log.exists() else []
lines += ["## IDS on every layer, one ResNet-18 step at N = 256 (benchmarks/bench_noise.py --step)", "",
          *(table or ["(no result: see the step table)"]), ""]
lines += ["## One full-protocol run per encoder (idslab train --views ids, docs/PROTOCOL.md defaults)", "",
          "| encoder | pre-training (s) | whole run (s) | MLP acc | k-NN acc |", "|---|---:|---:|---:|---:|"]
per_run = {}
order = ("cnn8", "cnn16", "cnn32", "cnn64", "cnn128", "cnn256", "resnet18", "resnet50")
for f in sorted(work.glob("full-*.json"), key=lambda f: (order + (f.stem[5:],)).index(f.stem[5:])):
    r = json.loads(f.read_text())
    enc = r["config"]["encoder"]
    per_run[enc] = r["wall_s"]
    m = r.get("metrics") or {}
    lines.append(f"| {enc} | {r['pretrain_s']:.1f} | {r['wall_s']:.1f} | {m.get('mlp_acc', float('nan')):.3f} | "
                 f"{m.get('knn_acc', float('nan')):.3f} |")
lines.append("")
try:
    from idslab.experiments import get_grid
    total, parts = 0.0, []
    for name in ("table1", "table2", "fig3"):
        cfgs = get_grid(name).configs()
        known = [per_run[c.encoder] for c in cfgs if c.encoder in per_run]
        t = sum(known)
        total += t
        parts.append(f"{name}: {len(cfgs)} runs, {t / 60:.1f} min" + ("" if len(known) == len(cfgs) else
                     f" ({len(cfgs) - len(known)} runs of encoders without a timing left out)"))
    lines += ["Full study, one cell after another at these per-run times (no stacking, warm data cache): "
              + "; ".join(parts) + f"; **total {total / 60:.1f} min**.", ""]
except Exception as e:  # the report must still be written
    lines += [f"(full-study estimate unavailable: {e})", ""]
Path(out).write_text("\n".join(lines) + "\n")
print(f"gpu_check: wrote {out}")
PYEOF

if [[ $FAILED -ne 0 ]]; then
  echo "gpu_check: some steps failed or timed out (see $OUT and the logs in $WORK)" >&2
  exit 1
fi
echo "gpu_check: all steps passed"
