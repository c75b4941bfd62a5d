#!/usr/bin/env bash
# Create a wandb sweep from a config in sweeps/ and run an agent for it on this machine.
#   scripts/wandb_sweep.sh sweeps/bayes_uar.yaml [RUNS] [wandb sweep options, e.g. --project serlab]
# RUNS caps the trials this agent runs (default: until the sweep is done). The agent starts serlab-train,
# so run this where serlab-train is on PATH; start more agents anywhere with the `wandb agent ...` line printed.
set -euo pipefail
config=${1:?usage: scripts/wandb_sweep.sh SWEEP_YAML [RUNS] [wandb sweep options]}
runs=""
if [[ ${2:-} =~ ^[0-9]+$ ]]; then runs=$2; shift 2; else shift; fi
output=$(wandb sweep "$@" "$config" 2>&1) || { echo "$output" >&2; exit 1; }
echo "$output" >&2
# wandb sweep ends with "Run sweep agent with: wandb agent <entity/project/id>"
sweep=$(sed -n 's/.*Run sweep agent with: wandb agent //p' <<<"$output" | tail -n 1)
[ -n "$sweep" ] || { echo "wandb sweep did not create a sweep from $config" >&2; exit 1; }
exec wandb agent ${runs:+--count "$runs"} "$sweep"
