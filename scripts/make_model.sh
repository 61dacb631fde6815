#!/usr/bin/env bash
# The whole digit-reader recipe (`make model`): harvest page crops from generated batches, then train
# the main model and the two cross-source models, twice (each with a second opinion trained apart), and
# package the main pair into extract/models/ (the cross-source pairs into training/cross-source/).
# Each harvest is skipped when its .npz exists; rendered synthesized crops are cached in build/digits-cache/.
# About 1.5 hours on 2 idle cores. Needs ../shared/handwriting and the `train` extra (torch).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
D=build/digits-pages
mkdir -p "$D"
harvest() {  # out forms seed quality split [form types...]
  local out=$1 forms=$2 seed=$3 quality=$4 split=$5; shift 5
  [ -f "$D/$out.npz" ] || "$PY" scripts/harvest_crops.py --forms "$forms" --seed "$seed" --quality "$quality" \
    --split "$split" --form-types "${@:-ppwp}" --out "$D/$out.npz"
}
# test split (never trained on): calibration and test pages
harvest test-mixed 120 101 mixed test
harvest test-scan 100 102 scan test
harvest calib-mixed 60 103 mixed test
harvest calib2-mixed 80 104 mixed test
# test split written by one real source only: part of the calibration pages (temperatures)
if [ ! -f "$D/xs-mnist.npz" ]; then
  [ -f build/xs/mnist-only/truth.jsonl ] || "$PY" -m flows.cli generate build/xs/mnist-only --forms 150 --seed 501 \
    --quality mixed --source mnist --inconsistent-rate 0.1
  "$PY" scripts/harvest_crops.py --batch-dir build/xs/mnist-only --out "$D/xs-mnist.npz"
fi
[ -f "$D/xs-ardis.npz" ] || "$PY" scripts/harvest_crops.py --forms 120 --seed 107 --quality mixed --split test \
  --sources ardis --out "$D/xs-ardis.npz"
# train split written by one real source only: where each cross-source model's threshold is chosen. That
# model never saw the source, and these images are not the test pages' (which reuse the small test split),
# so the threshold is not fitted to the images it is then judged on.
[ -f "$D/xcal-mnist-train.npz" ] || "$PY" scripts/harvest_crops.py --forms 200 --seed 701 --quality mixed \
  --split train --sources mnist --out "$D/xcal-mnist-train.npz"
[ -f "$D/xcal-ardis-train.npz" ] || "$PY" scripts/harvest_crops.py --forms 200 --seed 702 --quality mixed \
  --split train --sources ardis --out "$D/xcal-ardis-train.npz"
# train split
harvest train-scan 150 1 scan train ppwp ppwp-salinan dpr
harvest train-fax 60 2 fax train ppwp ppwp-salinan dpr
harvest train-photo 70 3 photo train ppwp ppwp-salinan dpr
harvest train-dhasil 4 4 mixed train dhasil-ppwp
# The second opinions first: every variant trained again, apart (other seeds, from scratch), cached under
# the tag "v5b"; their own packages go to build/ and are not used.
"$PY" scripts/train_digits.py --out build/digits-v5b --xs-out build/xs-v5b --tag v5b --seed 17 \
  --pages $D/train-scan.npz $D/train-fax.npz $D/train-photo.npz $D/train-dhasil.npz \
  --calib-pages $D/calib-mixed.npz $D/calib2-mixed.npz $D/xs-mnist.npz $D/xs-ardis.npz --test-pages $D/test-mixed.npz $D/test-scan.npz \
  --xs-calib-pages $D/xcal-mnist-train.npz $D/xcal-ardis-train.npz \
  --page-frac 0.5 --samples 1000000 --lr 3e-3 --xs-samples 600000 --variants no-mnist no-ardis main
# Then the first networks, packaged with their second opinions (and the test-time shifts, fitted here).
# To re-calibrate the committed networks without training them (the cache under build/digits-cache is not
# committed): scripts/state_from_onnx.py, then this command with --reuse (see the model card's Reproduce).
# The packaged main model was warm-started from the previous reader's state dict (digits-v2, kept in
# build/digits-cache/init-digits-v2.pt on the machine that trained it); without it, train from scratch longer.
INIT=()
SAMPLES=1000000
if [ -f build/digits-cache/init-digits-v2.pt ]; then INIT=(--init build/digits-cache/init-digits-v2.pt); SAMPLES=500000; fi
"$PY" scripts/train_digits.py --out "${OUT:-extract/models}" --tag v4 --second-tag v5b --threshold-bound --gate 1 --jitter-below 0.9995 \
  --pages $D/train-scan.npz $D/train-fax.npz $D/train-photo.npz $D/train-dhasil.npz \
  --calib-pages $D/calib-mixed.npz $D/calib2-mixed.npz $D/xs-mnist.npz $D/xs-ardis.npz --test-pages $D/test-mixed.npz $D/test-scan.npz \
  --xs-calib-pages $D/xcal-mnist-train.npz $D/xcal-ardis-train.npz \
  --page-frac 0.5 --samples "$SAMPLES" --lr 2e-3 "${INIT[@]}" --xs-samples 600000
