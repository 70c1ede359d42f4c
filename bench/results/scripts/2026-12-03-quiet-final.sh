#!/usr/bin/env bash
# Quiet same-session run: lutra (Node 24) beside llama-bench / llama-completion / mtmd / PyTorch, same files, same flags.
cd lutra
N24=node
LB=../llama.cpp/build/bin/llama-bench
LC=../llama.cpp/build/bin/llama-completion
echo "# $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg) HEAD $(git rev-parse --short HEAD)"
grep -o 'avx512_vnni\|avx_vnni\|avx2\|avx512f\|f16c' /proc/cpuinfo | sort -u | tr '\n' ' '; echo
for f in q05-q4_0 q05-q8_0 q05-q4km; do
  $N24 bin/lutra.js bench bm/$f.gguf -p 4,128,512 -n 32 -r 3 -t 1,2 --no-profile
  $LB -m bm/$f.gguf -p 4,128,512 -n 32 -r 3 -t 1,2
done
echo "# f16 q4_1 $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)"
for f in q05-f16 q05-q4_1; do
  $N24 bin/lutra.js bench bm/$f.gguf -p 0 -n 32 -r 2 -t 1,2 --no-profile
  $LB -m bm/$f.gguf -p 0 -n 32 -r 2 -t 1,2
done
echo "# families $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)"
for f in bm/gemma-3-1b-q4_0.gguf bm/bitnet-2b-tq2_0.gguf bm/moe-small-q4_0.gguf bm/qwen2.5-1.5b-tq2_0.gguf bm/qwen2.5-1.5b-tq1_0.gguf bm/phi-3.5-mini-q4_0.gguf; do
  $N24 bin/lutra.js bench $f -p 0 -n 16 -r 2 -t 2 --no-profile
  $LB -m $f -p 0 -n 16 -r 2 -t 2
done
echo "# depth 4096 $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)"
for T in f16 q8_0; do
  $N24 bin/lutra.js bench bm/q05-q4_0.gguf -p 0 -n 16 -d 4096 -r 1 -t 2 --cache-type-k $T --cache-type-v $T --depth-fill synthetic --no-profile
  $LB -m bm/q05-q4_0.gguf -p 0 -n 16 -d 4096 -r 1 -t 2 -fa 1 -ctk $T -ctv $T
done
echo "# depth 16378 $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)"
for T in f16 q8_0; do
  $N24 bin/lutra.js bench bm/q05-q4_0.gguf -p 0 -n 32 -d 16378 -r 1 -t 2 --cache-type-k $T --cache-type-v $T --depth-fill synthetic --no-profile
  $LC -m bm/q05-q4_0.gguf -f bm/d16/prompt.txt --prompt-cache bm/d16/$T.bin --prompt-cache-ro -ctk $T -ctv $T -fa on -c 16448 -b 2048 -ub 512 -n 32 -t 2 --temp 0 -no-cnv < /dev/null 2>&1 | grep -a "session\|eval time"
done
echo "# browser $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)"
$N24 bench/browser/decode.mjs bm/q05-q4_0.gguf -n 32 -r 2 -t 2
echo "# vision $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)"
node bench/vision/encode.mjs --types F16,Q8_0 --threads 1,2 --runs 1 --mtmd VIS/bin/mtmd-dump
echo "# train $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)"
$N24 bench/train/step.mjs --only bundled,5m --kernels ref,wasm1,wasm2 --steps 3
for c in bundled 5m; do for t in 1 2; do /usr/bin/python3 bench/train/torch_step.py --config $c --threads $t --steps 3; done; done
echo "# done $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)"
