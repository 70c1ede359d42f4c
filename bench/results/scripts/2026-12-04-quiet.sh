#!/usr/bin/env bash
# Quiet same-session run after the four-stream decode kernels (2026-12-04): lutra (Node 24) beside
# llama-bench / node-llama-cpp / wllama / llama-perplexity, same files, same flags. bm/ and h18/ hold
# `lutra synth` files (Qwen2.5-0.5B and -1.5B shapes; families as named), llama.cpp/ the native build.
# Run from the repository: BM, H18, LLAMA and DATA name those folders (defaults: beside the repo).
BM=${BM:-../bm}; H18=${H18:-../h18}; LLAMA=${LLAMA:-../llama.cpp}; DATA=${DATA:-../shared/data}
N24=node
LB=$LLAMA/build/bin/llama-bench
echo "# $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg) HEAD $(git rev-parse --short HEAD)"
grep -o 'avx512_vnni\|avx_vnni\|avx2\|avx512f\|f16c\|amx_int8' /proc/cpuinfo | sort -u | tr '\n' ' '; echo
echo "# peers $(date -u +%FT%TZ)"
LLAMA_CPP_BIN=$LLAMA/build/bin $N24 bench/peers/run.mjs $BM/q05-q4_0.gguf $BM/q05-q8_0.gguf $BM/q05-q4km.gguf --peers lutra,llama-bench,node-llama-cpp,wllama -t 1,2 -p 128 -n 64 -r 2 --tag xeon-2c-peers
echo "# 0.5B pp4/pp128/pp512/tg32 $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)"
for f in q05-q4_0 q05-q8_0 q05-q4km q05-q4_1 q05-f16; do
  $N24 bin/lutra.js bench $BM/$f.gguf -p 4,128,512 -n 32 -r 3 -t 1,2 --no-profile
  $LB -m $BM/$f.gguf -p 4,128,512 -n 32 -r 3 -t 1,2
done
echo "# 1.5B $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)"
for f in qwen2.5-1.5b-q2_k qwen2.5-1.5b-q3_k_m qwen2.5-1.5b-q4_k_m qwen2.5-1.5b-tq2_0 qwen2.5-1.5b-tq1_0; do
  $N24 bin/lutra.js bench $H18/$f.gguf -p 0 -n 16 -r 3 -t 1,2 --no-profile
  $LB -m $H18/$f.gguf -p 0 -n 16 -r 3 -t 1,2
done
echo "# families $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)"
for f in $H18/gemma-3-1b-q4_0.gguf $H18/bitnet-2b-tq2_0.gguf $BM/moe-small-q4_0.gguf $H18/phi-3.5-mini-q4_0.gguf; do
  $N24 bin/lutra.js bench $f -p 0 -n 16 -r 2 -t 1,2 --no-profile
  $LB -m $f -p 0 -n 16 -r 2 -t 1,2
done
echo "# browser $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)"
$N24 bench/browser/decode.mjs $BM/q05-q4_0.gguf -n 32 -r 2 -t 2
echo "# stories260K $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)"
S=$DATA/models/stories260K/stories260K.gguf; V=$DATA/text/tinystories/tinystories_val.txt
$N24 bin/lutra.js bench $S -p 128 -n 128 -r 5 -t 1 --no-profile
$LB -m $S -p 128 -n 128 -r 5 -t 1
/usr/bin/time -f "lutra eval ppl %e s" $N24 bin/lutra.js eval ppl $S --file $V --ctx 256 --chunks 200 -t 1 2>&1 | tail -3
/usr/bin/time -f "llama-perplexity %e s" $LLAMA/build/bin/llama-perplexity -m $S -f $V -c 256 --chunks 200 -t 1 2>&1 | grep -a "Final estimate\|llama-perplexity"
echo "# done $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)"
