#!/usr/bin/env bash
# `npm run test:noisy`: the README's test command (`npm test`) three times in a row while CPU burners run
# beside it, to show that no test depends on how fast the machine is. Stops at the first failing run.
#
#   TEST_NOISY_RUNS     how many runs (default 3)
#   TEST_NOISY_BURNERS  how many busy processes (default: one per CPU, at least 2)
#
# The burners are plain `node -e 'for(;;){}'` processes started here and ended by their own PIDs on exit
# (a trap on EXIT, also after ^C or a failure); nothing else is touched. Each run's output is kept in
# test-artifacts/noisy/run-N.log; a summary is printed at the end.
set -uo pipefail
cd "$(dirname "$0")/.."

runs=${TEST_NOISY_RUNS:-3}
cpus=$(node -p 'require("node:os").availableParallelism()')
burners=${TEST_NOISY_BURNERS:-$(( cpus > 2 ? cpus : 2 ))}
logs=test-artifacts/noisy
mkdir -p "$logs"

pids=()
stop_burners() {
  for pid in "${pids[@]+"${pids[@]}"}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]+"${pids[@]}"}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
}
trap stop_burners EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for ((b = 0; b < burners; b++)); do
  node -e 'for (;;) {}' &
  pids+=($!)
done
echo "test:noisy: $burners CPU burners (pids ${pids[*]}) beside $runs runs of npm test on $cpus CPUs"

summary=()
status=0
for ((run = 1; run <= runs; run++)); do
  started=$(date +%s)
  echo "::: run $run of $runs (log: $logs/run-$run.log)"
  npm test 2>&1 | tee "$logs/run-$run.log"
  code=${PIPESTATUS[0]}
  seconds=$(( $(date +%s) - started ))
  counts=$(grep -E '^# \{ total:' "$logs/run-$run.log" | tail -1 | sed 's/^# //')
  if [ "$code" -eq 0 ]; then
    summary+=("run $run: passed in ${seconds}s ${counts}")
  else
    summary+=("run $run: FAILED (exit $code) in ${seconds}s ${counts}")
    while IFS= read -r line; do summary+=("  $line"); done < <(grep -E '^not ok [0-9]+ - ' "$logs/run-$run.log" || true)
    status=$code
    break
  fi
done

echo
echo "test:noisy summary ($burners CPU burners, $cpus CPUs):"
for line in "${summary[@]}"; do echo "  $line"; done
if [ "$status" -eq 0 ]; then echo "test:noisy: $runs of $runs runs passed"; else echo "test:noisy: failed"; fi
exit "$status"
