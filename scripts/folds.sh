#!/usr/bin/env bash
# Train every speaker fold of an experiment as one Hydra multirun.
#   scripts/folds.sh 5 experiment=synthetic_crnn trainer=cpu
# The first argument is the number of folds; the rest are serlab-train overrides.
set -euo pipefail
folds=${1:?usage: scripts/folds.sh N_FOLDS [overrides...]}
shift
exec serlab-train -m "data.fold=range(${folds})" "data.split.n_folds=${folds}" "$@"
