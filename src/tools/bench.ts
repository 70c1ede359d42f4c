// `lutra bench`, after llama-bench: prompt processing (ppN: N prompt tokens in batches) and text
// generation (tgN: N tokens decoded one at a time) from an empty context, repeated, reporting the
// mean and standard deviation of tokens/s per test and thread count (median alongside), plus a
// per-op time breakdown measured in a separate pass so the timers do not disturb the figures.

import { loadModel, type Model } from '../runtime/model.js';
import type { Kernels } from '../kernels/types.js';
import type { BackendName, LutTables, MatmulKernels } from '../kernels/index.js';
import type { KVCacheSpec } from '../runtime/kv/index.js';
import type { Context, DecodeOptions } from '../runtime/context.js';
import { GpuContext } from '../runtime/gpu-context.js';
import { ArgumentError } from '../core/errors.js';

export interface BenchOptions {
  pp: number[];
  tg: number[];
  reps: number;
  threads: number[];
  backend?: BackendName;
  /** Matrix kernels to compare (each a separate load; default ['auto']). */
  kernels?: MatmulKernels[];
  lutTables?: LutTables;
  /** Batch size for prompt processing (default 512, as llama-bench's ubatch). */
  batch?: number;
  /** Tokens already in the cache when each test starts (llama-bench -d; default [0]), prefilled untimed. */
  depth?: number[];
  /**
   * How the depth gets into the cache: 'prefill' (default, as llama-bench: the model runs the tokens)
   * or 'synthetic' (random keys and values appended to every layer's store, no forward pass: the
   * same cache length, type and bytes, so dense attention costs the same, minutes of prefill sooner).
   */
  depthFill?: 'prefill' | 'synthetic';
  /** KV cache settings of the contexts (default f16). */
  cacheType?: KVCacheSpec;
  /**
   * The per-op breakdown's extra run of the first pp and tg test (default true). Off, the process
   * runs only the timed tests: CPU-time comparisons (bench/families/cpu-per-token.sh) count on it.
   */
  profile?: boolean;
  onResult?: (r: BenchResult) => void;
}

export interface BenchResult {
  test: string;
  threads: number;
  tps: number;
  tps_sd: number;
  tps_median: number;
  runs: number[];
  backend: string;
  /** The --kernels mode and what it put where (the load note). */
  kernels: MatmulKernels;
  matmul: string;
  /** Tokens in the cache before the test (llama-bench's depth), and the cache's bytes at the end of a run. */
  depth: number;
  kvBytes: number;
  /** backend webgpu: the adapter's one-line note (it says "(software)" for a CPU emulation such as SwiftShader, whose t/s say nothing of a GPU's). */
  gpu?: string;
}

export interface OpProfile {
  kernels: MatmulKernels;
  threads: number;
  test: string;
  /** op -> total milliseconds over the profiled run. */
  ms: Record<string, number>;
  tokens: number;
}

const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
const sd = (a: number[]) => { if (a.length < 2) return 0; const m = mean(a); return Math.sqrt(a.reduce((s, x) => s + (x - m) ** 2, 0) / (a.length - 1)); };
const median = (a: number[]) => { const s = [...a].sort((x, y) => x - y); const m = s.length >> 1; return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2; };

function tokensFor(model: Model, n: number, seed: number): Int32Array {
  const out = new Int32Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; out[i] = x % model.hparams.nVocab; }
  return out;
}

/** depth random keys and values (xorshift, in [-1, 1)) into every layer of ctx's store; ctx takes them as computed. */
function fillSynthetic(model: Model, owner: Context, depth: number, batch: number): Context {
  const s = owner.kv, chunk = Math.min(depth, 512);
  const keys = new Float32Array(chunk * s.nHeadKv * s.headDim), values = new Float32Array(chunk * s.nHeadKv * s.headDimV);
  let x = 12345;
  const rnd = () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x / 2 ** 31 - 1; };
  for (let p = 0; p < depth; p += chunk) {
    const m = Math.min(chunk, depth - p);
    for (let l = 0; l < s.nLayer; l++) {
      for (let i = 0; i < keys.length; i++) keys[i] = rnd();
      for (let i = 0; i < values.length; i++) values[i] = rnd();
      s.append(l, p, keys, values, m);
    }
  }
  const ctx = model.createContext({ ctx: owner.nCtx, batch, kv: s });
  ctx.adopt(tokensFor(model, depth, 7), depth);
  return ctx;
}

/** A context's decode, awaited on the GPU (a WebGPU context's synchronous decode would move it to the CPU). */
async function decode(ctx: Context, t: ArrayLike<number>, o: DecodeOptions): Promise<void> {
  if (ctx instanceof GpuContext) await ctx.decodeAsync(t, o);
  else ctx.decode(t, o);
}

async function runOnce(model: Model, test: 'pp' | 'tg', n: number, batch: number, depth = 0, cacheType?: KVCacheSpec, kv?: { bytes: number }, depthFill: 'prefill' | 'synthetic' = 'prefill'): Promise<number> {
  if (model.gpuForward && depth > 0 && depthFill === 'synthetic') throw new ArgumentError('--depth-fill synthetic writes the CPU cache; backend webgpu keeps its cache on the GPU (use --depth-fill prefill)');
  const owner = model.createContext({ ctx: depth + n + 8, batch: Math.min(batch, Math.max(n, depth)), cacheType });
  const ctx = depth > 0 && depthFill === 'synthetic' ? fillSynthetic(model, owner, depth, Math.min(batch, Math.max(n, depth))) : owner;
  try {
    const toks = tokensFor(model, n, n + 17);
    if (depth > 0 && depthFill === 'prefill') await decode(ctx, tokensFor(model, depth, 7), { logits: 'none' });
    const t0 = performance.now();
    if (test === 'pp') await decode(ctx, toks, { logits: 'last' });
    else for (let i = 0; i < n; i++) await decode(ctx, toks.subarray(i, i + 1), { logits: 'last' });
    const tps = n / ((performance.now() - t0) / 1000);
    if (kv) kv.bytes = ctx.kv.bytesUsed();
    return tps;
  } finally {
    if (ctx !== owner) ctx.dispose();
    owner.dispose();
  }
}

/** Wrap a backend so every op's time is summed per op name. */
function profiled(k: Kernels, ms: Record<string, number>): Kernels {
  const ops = ['matmul', 'matmulMany', 'rmsNorm', 'rope', 'attention', 'swiglu', 'addScaled', 'embed'] as const;
  const p = Object.create(k) as Kernels;
  for (const op of ops) {
    const f = (k[op] as (...a: unknown[]) => void).bind(k);
    (p as unknown as Record<string, unknown>)[op] = (...args: unknown[]) => {
      const t0 = performance.now();
      f(...args);
      ms[op] = (ms[op] ?? 0) + performance.now() - t0;
    };
  }
  return p;
}

/** The warm-up before each test: calls until this long (ms), at most WARMUP_CALLS of them. */
const WARMUP_MS = 250;
const WARMUP_CALLS = 64;

export async function bench(file: string, o: BenchOptions): Promise<{ results: BenchResult[]; profiles: OpProfile[] }> {
  const results: BenchResult[] = [];
  const profiles: OpProfile[] = [];
  const batch = o.batch ?? 512;
  for (const kernels of o.kernels ?? ['auto']) for (const threads of o.threads) {
    const model = await loadModel(file, { threads, backend: o.backend, kernels, lutTables: o.lutTables });
    const matmul = model.kernelNote.split('; ').slice(1).join('; ').replace(/^matmul: /, '');
    try {
      const tests: ['pp' | 'tg', number][] = [...o.pp.map((n) => ['pp', n] as ['pp', number]), ...o.tg.map((n) => ['tg', n] as ['tg', number])];
      for (const depth of o.depth ?? [0]) for (const [test, n] of tests) {
        // Warm-up: compile paths and fault in pages, on the test's own paths: a prefill of all n
        // tokens, as llama-bench warms up (a long batch takes other kernels than a short one), or
        // decode calls of up to 16 tokens. V8 moves a function to its optimizing compiler only after
        // it has run a while, so the calls repeat until WARMUP_MS have passed: one call for a 0.5B
        // model; on stories260K a call is milliseconds, and a single 16-token one left the timed run
        // in baseline code (pp128 6155 t/s in a fresh process against ~18000 after warming).
        for (let w = 0, t0 = performance.now(); w < WARMUP_CALLS && (w === 0 || performance.now() - t0 < WARMUP_MS); w++) {
          await runOnce(model, test, test === 'pp' ? n : Math.min(n, 16), batch, 0, o.cacheType);
        }
        const runs: number[] = [], kv = { bytes: 0 };
        for (let r = 0; r < o.reps; r++) runs.push(await runOnce(model, test, n, batch, depth, o.cacheType, kv, o.depthFill));
        const gpu = model.gpuForward;
        const res: BenchResult = { test: depth ? `${test}${n} @ d${depth}` : `${test}${n}`, threads, tps: mean(runs), tps_sd: sd(runs), tps_median: median(runs), runs, backend: gpu ? 'webgpu' : model.kernels.name, kernels, matmul, depth, kvBytes: gpu ? 0 : kv.bytes, ...(gpu ? { gpu: gpu.gpu.note } : {}) };
        results.push(res);
        o.onResult?.(res);
      }
      // Per-op breakdown: one extra run of the first pp and tg test through a timing wrapper.
      for (const [test, n] of [['pp', o.pp[0]], ['tg', o.tg[0]]] as ['pp' | 'tg', number | undefined][]) {
        // The wrapper times the CPU kernels; a WebGPU step is one submitted pass.
        if (!n || model.gpuForward || o.profile === false) continue;
        const ms: Record<string, number> = {};
        const ctx = model.createContext({ ctx: n + 8, batch: Math.min(batch, n), kernels: profiled(model.kernels, ms), cacheType: o.cacheType });
        const toks = tokensFor(model, n, 5);
        if (test === 'pp') ctx.decode(toks, { logits: 'last' });
        else for (let i = 0; i < n; i++) ctx.decode(toks.subarray(i, i + 1), { logits: 'last' });
        ctx.dispose();
        profiles.push({ kernels, threads, test: `${test}${n}`, ms, tokens: n });
      }
    } finally {
      model.dispose();
    }
  }
  return { results, profiles };
}
