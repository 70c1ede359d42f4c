// `lutra synth`, `lutra split` and `lutra bench`: models in real shapes, llama-gguf-split shards, llama-bench-style figures.

import { Command, Option } from 'commander';
import { open } from 'node:fs/promises';
import { ArgumentError } from '../core/errors.js';
import { shardSuffix, splitGGUF } from '../formats/gguf-split.js';
import { int } from './common.js';
import { ggmlTypeName } from '../quant/table.js';
import { FAMILY_PRESETS, PRESETS, synthesize } from '../tools/synth.js';
import { VISION_PRESETS, synthesizeVision } from '../tools/synth-vision.js';
import { bench } from '../tools/bench.js';
import { addCacheFlags, cacheSpec, type CacheFlags } from './cache-flags.js';
import { addSpeculativeFlags, cmdSpecBench, wantsSpeculation, type SpecBenchOptions, type SpeculativeFlags } from './speculative.js';
import type { BackendName, LutTables, MatmulKernels } from '../kernels/index.js';

function intList(name: string) {
  return (v: string): number[] => {
    const out = v.split(',').map((x) => Number(x.trim()));
    if (!out.length || out.some((n) => !Number.isInteger(n) || n < 0)) throw new ArgumentError(`${name} expects comma-separated non-negative integers, got ${JSON.stringify(v)}`);
    return out;
  };
}

/** llama-gguf-split's --split-max-size: bytes, or M (10^6) / G (10^9). */
function splitSize(v: string): number {
  const m = /^(\d+)([MG]?)$/.exec(v.trim());
  if (!m || Number(m[1]) === 0) throw new ArgumentError(`--split-max-size expects a positive size such as 2000M or 2G, got ${JSON.stringify(v)}`);
  return Number(m[1]) * (m[2] === 'G' ? 1e9 : m[2] === 'M' ? 1e6 : 1);
}

export function registerTools(program: Command): void {
  program.command('synth')
    .description('write a GGUF with random weights in the real shapes of a known model (for benchmarks)')
    .requiredOption('--preset <name>', `one of ${[...Object.keys(PRESETS), ...Object.keys(FAMILY_PRESETS), ...Object.keys(VISION_PRESETS)].join(', ')}`)
    .requiredOption('--type <T>', 'llama-quantize file type: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K_M, Q4_K_M, Q5_K_M, Q6_K, TQ1_0, TQ2_0, ...')
    .option('--arch <arch>', 'architecture (must match the preset)')
    .option('--pure', 'every weight matrix in the requested type (llama-quantize --pure), fallbacks aside')
    .requiredOption('-o, --output <file>', 'output GGUF (a vision preset: its LLM; siglip-400m: its projector)')
    .option('--mmproj <file>', 'a vision preset\'s projector (mmproj) GGUF')
    .action(async (o: { preset: string; type: string; arch?: string; pure?: boolean; output: string; mmproj?: string }) => {
      const vp = VISION_PRESETS[o.preset];
      if (vp) {
        const t0 = performance.now();
        const r = await synthesizeVision(o.preset, o.type, vp.llm ? { mmproj: o.mmproj ?? '', llm: o.output } : { mmproj: o.output });
        process.stdout.write(`${r.mmproj}: ${o.preset} projector (${vp.clip.type}, ${r.matrixType} matrices), ${(r.mmprojBytes / 1e6).toFixed(1)} MB\n`);
        if (r.llm) process.stdout.write(`${r.llm}: its LLM (${vp.llm!.arch}), ${(r.llmBytes! / 1e6).toFixed(1)} MB\n`);
        process.stdout.write(`  ${vp.about}; ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
        return;
      }
      const p = PRESETS[o.preset] ?? FAMILY_PRESETS[o.preset];
      if (p && o.arch && o.arch !== p.arch) throw new ArgumentError(`--arch ${o.arch} does not match preset ${o.preset} (${p.arch})`);
      const t0 = performance.now();
      const r = await synthesize(o.preset, o.type, o.output, { pure: o.pure });
      const counts = new Map<string, number>();
      for (const t of r.tensors) {
        const k = `${ggmlTypeName(t.to)}${t.to !== t.wanted ? ` (asked ${ggmlTypeName(t.wanted)}, row length ${t.shape[0]} forces the fallback)` : ''}`;
        counts.set(k, (counts.get(k) ?? 0) + 1);
      }
      process.stdout.write(`${o.output}: ${o.preset} (${p!.arch}), ${(r.bytes / 1e6).toFixed(1)} MB in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
      for (const [k, n] of counts) process.stdout.write(`  ${String(n).padStart(4)} tensors ${k}\n`);
    });

  program.command('split')
    .description('cut a GGUF into shards PREFIX-00001-of-0000N.gguf ... as llama-gguf-split --split writes them (byte for byte); every command loads them from any shard')
    .argument('<model>', 'GGUF file (a split one is read whole)')
    .argument('<prefix>', 'output prefix')
    .option('--split-max-tensors <n>', 'at most n tensors per shard', int('--split-max-tensors', 1))
    .option('--split-max-size <size>', 'at most this many tensor bytes per shard: N, NM (10^6) or NG (10^9), as llama-gguf-split', splitSize)
    .option('--no-tensor-first-split', 'the first shard holds only the metadata')
    .action(async (model: string, prefix: string, o: { splitMaxTensors?: number; splitMaxSize?: number; tensorFirstSplit: boolean }) => {
      if ((o.splitMaxTensors === undefined) === (o.splitMaxSize === undefined)) throw new ArgumentError('split needs exactly one of --split-max-tensors and --split-max-size');
      const { readGGUFModel } = await import('../runtime/node-io.js');
      const g = await readGGUFModel(model);
      const shards = splitGGUF(g.metadata, g.tensors, { maxTensors: o.splitMaxTensors, maxBytes: o.splitMaxSize, noTensorFirst: !o.tensorFirstSplit });
      for (let i = 0; i < shards.length; i++) {
        const path = `${prefix}${shardSuffix(i, shards.length)}`;
        const fh = await open(path, 'w');
        let bytes = 0;
        try {
          for (const c of shards[i]!) { await fh.write(c); bytes += c.byteLength; }
        } finally {
          await fh.close();
        }
        process.stdout.write(`${path}: ${bytes} bytes\n`);
      }
    });

  addSpeculativeFlags(addCacheFlags(program.command('bench')))
    .description('prompt processing and generation speed, as llama-bench (mean ± sd over repetitions); with a drafter (--draft MODEL, --draft-layers N or --lookup), speculative decoding against plain decoding instead: acceptance rate, accepted tokens per step, speedup and the speedup the measured costs predict (as lutra spec-bench)')
    .option('--spec-prompt <text>', 'with a drafter: the prompt to continue', 'Once upon a time')
    .option('-d, --n-depth <list>', 'tokens already in the KV cache when each test starts (llama-bench -d)', intList('--n-depth'), [0])
    .addOption(new Option('--depth-fill <how>', 'prefill: the model runs the depth tokens (as llama-bench); synthetic: random keys and values appended to the cache (same length, type and bytes; no forward pass)').choices(['prefill', 'synthetic']).default('prefill'))
    .argument('<model>', 'GGUF file or Hugging Face folder')
    .option('-p, --n-prompt <list>', 'prompt lengths (ppN tests)', intList('--n-prompt'), [128, 512])
    .option('-n, --n-gen <list>', 'generation lengths (tgN tests)', intList('--n-gen'), [64, 128])
    .option('-r, --repetitions <n>', 'runs per test', (v) => intList('--repetitions')(v)[0]!, 3)
    .option('-t, --threads <list>', 'thread counts', intList('--threads'))
    .option('-b, --batch <n>', 'prompt batch size', (v) => intList('--batch')(v)[0]!, 512)
    .addOption(new Option('--backend <name>', 'kernel backend (webgpu: the GPU forward; on a CPU emulation such as SwiftShader its t/s are no GPU speed)').choices(['auto', 'ref', 'wasm', 'wasm-relaxed', 'wasm-simd', 'wasm-plain', 'webgpu']).default('auto'))
    .option('--kernels <list>', 'matrix kernels for 1-4-bit formats, compared in turn: lut, dequant, auto', (v) => v.split(',').map((k) => {
      if (!['lut', 'dequant', 'auto'].includes(k.trim())) throw new ArgumentError(`--kernels: unknown kernels ${JSON.stringify(k)} (lut, dequant, auto)`);
      return k.trim() as MatmulKernels;
    }), ['auto'] as MatmulKernels[])
    .addOption(new Option('--lut-tables <kind>', 'table-lookup tables: int8 or exact').choices(['int8', 'exact']).default('int8'))
    .option('--json', 'one JSON object per result line')
    .option('--no-profile', 'skip the per-op breakdown')
    .action(async (model: string, o: CacheFlags & { nDepth: number[]; depthFill: 'prefill' | 'synthetic'; nPrompt: number[]; nGen: number[]; repetitions: number; threads?: number[]; batch: number; backend: BackendName; kernels: MatmulKernels[]; lutTables: LutTables; json?: boolean; profile: boolean } & SpeculativeFlags & { specPrompt: string }) => {
      if (wantsSpeculation(o)) {
        // One setting per run here: the speculative benchmark compares two generations of -n tokens.
        if ((o.threads?.length ?? 1) > 1 || o.kernels.length > 1 || o.nGen.length > 1) throw new ArgumentError('bench with a drafter takes one --threads, one --kernels and one -n value');
        await cmdSpecBench(model, {
          ...o, prompt: o.specPrompt, nPredict: o.nGen[0] ?? 128, temp: 0, seed: 1, reps: o.repetitions, threads: o.threads?.[0],
          backend: o.backend === 'auto' ? undefined : o.backend as SpecBenchOptions['backend'], kernels: o.kernels[0], lutTables: o.lutTables,
        });
        return;
      }
      const os = await import('node:os');
      const threads = o.threads ?? [os.availableParallelism?.() ?? os.cpus().length];
      if (threads.some((t) => t < 1)) throw new ArgumentError('--threads values must be >= 1');
      if (!o.json) process.stdout.write(`| model | backend | kernels | threads | test | t/s | KV MiB |\n| --- | --- | --- | ---: | ---: | ---: | ---: |\n`);
      const name = model.split('/').pop();
      let gpuNoted = false;
      const { profiles } = await bench(model, {
        pp: o.nPrompt.filter((n) => n > 0), tg: o.nGen.filter((n) => n > 0), reps: o.repetitions, threads, backend: o.backend, batch: o.batch, kernels: o.kernels, lutTables: o.lutTables, depth: o.nDepth, depthFill: o.depthFill, cacheType: cacheSpec(o),
        profile: o.profile && !o.json,
        onResult: (r) => {
          if (r.gpu && !gpuNoted) {
            gpuNoted = true;
            process.stderr.write(`${r.gpu}${/\(software\)/.test(r.gpu) ? '\nnote: this adapter is a CPU emulation (SwiftShader or the like): its tokens/s measure the emulation, not a GPU; they say nothing about WebGPU speed on hardware' : ''}\n`);
          }
          if (o.json) process.stdout.write(JSON.stringify({ test: r.test, threads: r.threads, tps: r.tps, tps_sd: r.tps_sd, tps_median: r.tps_median, backend: r.backend, kernels: r.kernels, matmul: r.matmul, model: name, depth: r.depth, kv_bytes: r.kvBytes, ...(r.gpu ? { gpu: r.gpu } : {}) }) + '\n');
          else process.stdout.write(`| ${name} | ${r.backend} | ${r.kernels}: ${r.matmul} | ${r.threads} | ${r.test} | ${r.tps.toFixed(2)} ± ${r.tps_sd.toFixed(2)} | ${(r.kvBytes / 2 ** 20).toFixed(2)} |\n`);
        },
      });
      if (o.profile && !o.json) {
        for (const p of profiles) {
          const total = Object.values(p.ms).reduce((a, b) => a + b, 0);
          const parts = Object.entries(p.ms).sort((a, b) => b[1] - a[1]).map(([op, ms]) => `${op} ${(ms / p.tokens).toFixed(3)} ms/tok (${((ms / total) * 100).toFixed(0)}%)`);
          process.stdout.write(`\nper-op, ${p.kernels} kernels, ${p.test}, ${p.threads} thread(s): ${parts.join(', ')}\n`);
        }
      }
    });
}
