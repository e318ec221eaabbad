#!/usr/bin/env bash
# Issue 14 on one GPU, in one go (each stage is bounded: 9 minutes at the very most, about 6 expected):
#   1. equivalence: each way to run the step (trainer.cuda_graphs=true, trainer.compile=reduce-overhead)
#      against the eager step on CUDA, for
#      darts first and second order and pcdarts (scripts/check_search_cuda.py), and GDAS refused;
#      then two short `nas search` runs (eager, graphs): the whole loop, images/s in report.json;
#   2. the table at the DARTS paper's search configuration (batch 64, C=16, 8 cells, fp32; pcdarts and
#      gdas at their configs' batch 256), 10 timed steps after warm-up, eager and graphs, with memory
#      per image, DARTS over PC-DARTS memory per image, and the DARTS reference code if given;
#   3. torch.compile rows (compiling the 8-cell supernet takes minutes: last, bounded).
#
# Usage, from the repository root:  scripts/gpu_check_search.sh [PATH to a checkout of quark0/darts]
# (or DARTS_REFERENCE=PATH). $OUT (default gpu_check_out/) gets log.txt (all printed), search.log, and
# equivalence.json, bench.json, bench_compile.json (every row measured).
#
# On this project's lent device machine, whose python3 has torch but not Hydra: prepare here, once,
#   echo /.whl/ >> .git/info/exclude; echo /.darts_ref/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       -d .whl hydra-core==1.3.2 omegaconf==2.3.0
#   python3 -m pip wheel --no-deps -w .whl antlr4-python3-runtime==4.9.3   # sdist only: a pure-Python wheel
#   mkdir -p .darts_ref && git -C <a quark0/darts clone> archive HEAD cnn | tar -x -C .darts_ref
# then run with carry [".whl", ".darts_ref"] the command
#   bash scripts/gpu_check_search.sh .darts_ref
set -u -o pipefail
OUT=${OUT:-gpu_check_out}
mkdir -p "$OUT"
REF=${1:-${DARTS_REFERENCE:-}}
export PYTHONUNBUFFERED=1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PY=${PYTHON:-python3}

if ! "$PY" -c "import hydra, omegaconf" 2>/dev/null; then
    if ls .whl/*.whl >/dev/null 2>&1; then
        "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
            || { echo "installing .whl/ failed"; exit 2; }
        export PYTHONPATH="$PYTHONPATH:/tmp/site"
    else
        echo "hydra-core and omegaconf are missing: install them, or download their wheels into .whl/ (see this script's header)"
        exit 2
    fi
fi
"$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 'no CUDA GPU here: this script measures issue 14 on a GPU')" || exit 2
"$PY" -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" | tee -a "$OUT/log.txt"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | tee -a "$OUT/log.txt"
if [ -n "$REF" ]; then REFERENCE=(--reference "$REF"); else REFERENCE=(); echo "no DARTS reference given: its rows are skipped"; fi

status=0
echo "== 1. equivalence on CUDA (graphs, then reduce-overhead) =="
timeout 120 "$PY" scripts/check_search_cuda.py --json "$OUT/equivalence.json" 2>&1 | tee -a "$OUT/log.txt" || status=1

echo "== 1b. the whole search loop on CUDA (nas search, debug=smoke sizes on dataset=fake): eager, then graphs =="
for mode in none graphs; do
    graphs=$([ "$mode" = graphs ] && echo true || echo false)
    timeout 60 "$PY" -m nascli search strategy=darts search_space=darts dataset=fake dataset.train_samples=1024 debug=smoke device=cuda \
        trainer.epochs=3 trainer.cuda_graphs=$graphs plots=false hydra.run.dir=/tmp/gpu_check_search_$mode >> "$OUT/search.log" 2>&1 \
        || { status=1; echo "nas search trainer.cuda_graphs=$graphs failed:"; tail -5 "$OUT/search.log"; }
    "$PY" -c "import json, sys; r = json.load(open(sys.argv[1])); print(sys.argv[2], r['status'], r.get('compile'),
    r.get('images_per_s'), 'images/s', r['best']['arch_str'], r['best'].get('val_accuracy'))" \
        /tmp/gpu_check_search_$mode/report.json $mode 2>&1 | tee -a "$OUT/log.txt"
done

echo "== 2. the paper configuration: eager and graphs, memory per image, the reference =="
timeout 220 "$PY" scripts/bench_search.py --device cuda --sizes paper --steps 10 --configs darts-1st,darts-2nd,pcdarts,gdas \
    --compile none,graphs --check-memory --timeout 110 --json "$OUT/bench.json" "${REFERENCE[@]}" 2>&1 \
    | tee -a "$OUT/log.txt" || status=1

echo "== 3. torch.compile (trainer.compile=reduce-overhead) at the paper configuration =="
timeout 80 "$PY" scripts/bench_search.py --device cuda --sizes paper --steps 10 --configs darts-1st \
    --compile reduce-overhead --timeout 75 --json "$OUT/bench_compile.json" 2>&1 | tee -a "$OUT/log.txt" || status=1

echo "done (status $status); files in $OUT"
exit $status
