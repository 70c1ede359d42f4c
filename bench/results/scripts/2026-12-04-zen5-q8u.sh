#!/usr/bin/env bash
# Same-session run on the AMD EPYC (Zen 5, no AMX) VM of 2026-12-04, second session (Q8_0 biased for the unsigned dot, rows4-q8u.ts): lutra (Node 24) beside
# llama-bench (bench/peers/build-llama.sh: -march=native, so AVX-512 VNNI) on the same files, file by
# file, lutra then llama.cpp; then stories260K (decode, prefill, perplexity). BM holds `lutra synth`
# files (Qwen2.5-0.5B shape), LLAMA the native build, DATA ../shared/data.
BM=${BM:-../bm}; LLAMA=${LLAMA:-../llama.cpp}; DATA=${DATA:-../shared/data}
LB=$LLAMA/build/bin/llama-bench
echo "# $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg) HEAD $(git rev-parse --short HEAD)"
grep -m1 'model name' /proc/cpuinfo
grep -o 'avx512_vnni\|avx_vnni\|avx2\|avx512f\|f16c\|amx_int8\|avx512_bf16\|avx512_vp2intersect' /proc/cpuinfo | sort -u | tr '\n' ' '; echo
for f in q05-q4_0 q05-q8_0 q05-q4km; do
  echo "# $f $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)"
  node bin/lutra.js bench $BM/$f.gguf -p 4,128 -n 32 -r 3 -t 1,2 --no-profile
  $LB -m $BM/$f.gguf -p 4,128 -n 32 -r 3 -t 1,2
done
echo "# stories260K $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)"
S=$DATA/models/stories260K/stories260K.gguf; V=$DATA/text/tinystories/tinystories_val.txt
node bin/lutra.js bench $S -p 128 -n 128 -r 5 -t 1 --no-profile
$LB -m $S -p 128 -n 128 -r 5 -t 1
/usr/bin/time -f "lutra eval ppl %e s" node bin/lutra.js eval ppl $S --file $V --ctx 256 --chunks 200 -t 1 2>&1 | tail -3
/usr/bin/time -f "llama-perplexity %e s" $LLAMA/build/bin/llama-perplexity -m $S -f $V -c 256 --chunks 200 -t 1 2>&1 | grep -a "Final estimate\|llama-perplexity"
echo "# done $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)"
