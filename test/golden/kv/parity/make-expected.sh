#!/bin/sh
# Expected outputs of llama.cpp (commit 80fb11ac73e66d89eae2c6a91d8a77428fa733ed, CPU build beside
# the repository by bench/peers/build-llama.sh, x86-64 AVX-512; LLAMA_BIN overrides where) for the KV-cache parity model that lutra writes
# (test/kv-parity-model.ts: random weights, head size 64, stories260K's vocabulary), per cache
# setting (K type, V type, rotation): greedy text, perplexity and the KV size llama.cpp reports.
#   gen-K-V-rotR.txt : llama-completion -m M -p "Once upon a time" -n 32 --temp 0 -ctk K -ctv V -fa on -t 2 -no-cnv --no-warmup --no-display-prompt -c 256
#   ppl-K-V-rotR.txt : llama-perplexity -m M -f ppl.txt -c 128 --chunks 4 -ctk K -ctv V -fa on -t 2   (the "Final estimate" line)
#   size-K-V.txt     : the "llama_kv_cache: size" line of llama-completion -lv 4 with -c 256
# rot0 runs with LLAMA_ATTN_ROT_DISABLE=1. Set GEN_ONLY=1 to redo only the texts; KEEP=1 keeps perplexities already there. Run from the repo root after `npx tsc -p .`.
set -e
BIN=${LLAMA_BIN:-../llama.cpp/build/bin}
TMP=$(mktemp -d)
DIR=test/golden/kv/parity
M=$TMP/kv-parity.gguf
node -e "import('./dist/test/kv-parity-model.js').then((m) => require('fs').writeFileSync('$M', m.kvParityModel()))"
head -c 6000 ../shared/data/text/tinystories/tinystories_val.txt > $DIR/ppl.txt
for kv in f16:f16 bf16:bf16 q8_0:q8_0 q4_0:q4_0 q4_1:q4_1 q5_0:q5_0 q5_1:q5_1 iq4_nl:iq4_nl q8_0:f16 f16:q4_0; do
  K=${kv%%:*}; V=${kv#*:}
  for R in 1 0; do
    D=$((1 - R))
    # llama-completion's stdout sometimes loses its last bytes at exit: keep the longest of 3 runs.
    : > $DIR/gen-$K-$V-rot$R.txt
    for try in 1 2 3; do
      LLAMA_ATTN_ROT_DISABLE=$D $BIN/llama-completion -m $M -p "Once upon a time" -n 32 --temp 0 -ctk $K -ctv $V -fa on -t 2 -no-cnv --no-warmup --no-display-prompt -c 256 < /dev/null > $TMP/kv-gen.txt 2>/dev/null
      [ $(wc -c < $TMP/kv-gen.txt) -gt $(wc -c < $DIR/gen-$K-$V-rot$R.txt) ] && cp $TMP/kv-gen.txt $DIR/gen-$K-$V-rot$R.txt
    done
    # (its output, too, is sometimes lost at exit: up to 3 tries for a Final estimate line)
    for try in 1 2 3; do
      [ -n "$GEN_ONLY" ] || [ -s $DIR/ppl-$K-$V-rot$R.txt -a -n "$KEEP" ] || LLAMA_ATTN_ROT_DISABLE=$D $BIN/llama-perplexity -m $M -f $DIR/ppl.txt -c 128 --chunks 4 -ctk $K -ctv $V -fa on -t 2 2>&1 | grep "Final estimate" | sed 's/^.*Final/Final/' > $DIR/ppl-$K-$V-rot$R.txt || true
      [ -s $DIR/ppl-$K-$V-rot$R.txt ] && break
    done
  done
  [ -n "$GEN_ONLY" ] || $BIN/llama-completion -m $M -p "Once" -n 1 --temp 0 -ctk $K -ctv $V -fa on -t 2 -no-cnv --no-warmup -c 256 -lv 4 < /dev/null 2>&1 >/dev/null | grep "llama_kv_cache: size" | sed 's/^.*llama_kv_cache/llama_kv_cache/' > $DIR/size-$K-$V.txt
done
