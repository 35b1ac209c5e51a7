#!/usr/bin/env bash
# Rule S39-5 (figures/second_cycle/replicate/rules.txt): the replicate leg, judged by S39-4. Re-run to resume.
set -eu
cd "$(dirname "$0")/../../.."
: "${FASOLFA_CACHE:?set FASOLFA_CACHE to the render cache}"
R=figures/second_cycle/replicate; d=${OUT:-out/replicate39}; mkdir -p $d
run=$FASOLFA_CACHE/runs/replicate39
# a machine without the run folder resumes from the training state committed at the end of stop 39
if [ ! -f $run/state.pt ] && [ ! -f $run/snapshots/step-001200.pt ]; then
  mkdir -p $run && cp $R/state-step-000648.pt $run/state.pt && cp $R/replicate-log.csv $run/log.csv
fi
echo "$(date +%T) train (resumes)"
.venv/bin/python -m fasolfa.train $R/replicate-config.json --no-progress >> $d/train.log 2>&1
test -f $run/snapshots/step-001200.pt
sed "s#<cache>/runs/replicate39/snapshots/step-001200.pt#$run/snapshots/step-001200.pt#" $R/pedal-config.json > $d/pedal-config.json
echo "$(date +%T) pedal leg"
.venv/bin/python -m fasolfa.train $d/pedal-config.json --no-progress > $d/pedal.log 2>&1
snap=$(ls $FASOLFA_CACHE/runs/replicate39-pedal/snapshots/step-*.pt | tail -1)
echo "$(date +%T) velocity_fit on $snap"
.venv/bin/python -m fasolfa.velocity_fit figures/velocity_fit/velocity-head-config.json $snap $d/fit.pt --hidden 16 --reads no-register --seeds 0,1,2 --no-progress > $d/fit.log 2>&1
echo "$(date +%T) finalize"
.venv/bin/python -m fasolfa.train figures/interpolation/config.json --finalize $d/fit.pt $d/tie.pt --tie-tolerance 0.001 --no-progress > $d/finalize.log 2>&1
echo "$(date +%T) score (8 pieces, reported)"
.venv/bin/python tests/bench/ablations.py score figures/interpolation/config.json $d/scores.json --checkpoint replicate39/ens $d/tie.pt > $d/score.log 2>&1
.venv/bin/python tests/bench/ship_verdict.py $d/scores.json --out $d/verdict8.json | tee $d/verdict8.txt
echo "$(date +%T) 24x60 reading"
.venv/bin/python tests/bench/readings.py figures/second_cycle/readings/validation24x60-config.json $d/rep-24x60.json --no-choice --thresholds-from $d/tie.pt --variant replicate39 $d/tie.pt > $d/r24.log 2>&1
.venv/bin/python tests/bench/ship_verdict.py --reading $d/rep-24x60.json replicate39 --out $d/verdict.json | tee $d/verdict.txt
echo "$(date +%T) done"
