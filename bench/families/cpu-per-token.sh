#!/usr/bin/env bash
# CPU milliseconds per decoded token, lutra beside llama-bench, usable on a loaded machine: each
# program's CPU time (user + sys) for a 48-token run minus a 16-token run, over 32 tokens, so load
# and warm-up cancel and what is left is what one free core would spend per token. Threads:
# $THREADS (default 1; with 2 the sum over both threads). ROUNDS interleaved rounds (default 3); the ratio is of the medians (the lower one of 2).
#   LLAMA_BENCH=../llama.cpp/build/bin/llama-bench bench/families/cpu-per-token.sh MODEL...
set -euo pipefail
LLAMA_BENCH=${LLAMA_BENCH:-../llama.cpp/build/bin/llama-bench}
THREADS=${THREADS:-1}
ROUNDS=${ROUNDS:-3}
cpu() { /usr/bin/time -f "%U %S" "$@" 2>&1 >/dev/null | tail -1 | awk '{print $1+$2}'; }
perTok() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) * 1000 / 32 }'; }
echo "# $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg) threads $THREADS"
echo "| model | llama-bench ms/token | lutra ms/token | lutra / llama.cpp speed |"
echo "| --- | ---: | ---: | ---: |"
for m in "$@"; do
  L=(); J=()
  for r in $(seq "$ROUNDS"); do
    l16=$(cpu "$LLAMA_BENCH" -m "$m" -p 0 -n 16 -r 1 -t "$THREADS" --no-warmup)
    l48=$(cpu "$LLAMA_BENCH" -m "$m" -p 0 -n 48 -r 1 -t "$THREADS" --no-warmup)
    j16=$(cpu node bin/lutra.js bench "$m" -p 0 -n 16 -r 1 -t "$THREADS" --no-profile)
    j48=$(cpu node bin/lutra.js bench "$m" -p 0 -n 48 -r 1 -t "$THREADS" --no-profile)
    L+=("$(perTok "$l16" "$l48")"); J+=("$(perTok "$j16" "$j48")")
  done
  med() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
  lm=$(printf '%s\n' "${L[@]}" | med); jm=$(printf '%s\n' "${J[@]}" | med)
  echo "| $(basename "$m") | ${L[*]} | ${J[*]} | $(awk -v l="$lm" -v j="$jm" 'BEGIN { printf "%.2fx", l / j }') |"
done
