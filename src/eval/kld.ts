// KL divergence of a quantized model's next-token distributions from a base model's, on the tokens
// llama-perplexity scores (non-overlapping windows, BOS first, second half of each window), with the
// statistics llama.cpp's --kl-divergence reports: mean KLD and its percentiles, the share of tokens
// where both models agree on the top token, and each model's perplexity.

import { ArgumentError, throwIfAborted } from '../core/errors.js';
import type { Kernels } from '../kernels/types.js';
import type { Model } from '../runtime/model.js';
import type { KVCacheSpec } from '../runtime/kv/index.js';
import { scoreWindow } from './perplexity.js';

export interface KldOptions {
  ctx?: number;
  chunks?: number;
  /** Tokens per decode step on both sides (default min(ctx, 128)); 1: every token alone, as generation. */
  batch?: number;
  signal?: AbortSignal;
  /** Run the quantized model on other kernels (activation quantization, say). */
  quantKernels?: Kernels;
  /**
   * KV cache settings of each side's context (default: each model's own). With the same model on
   * both sides, this measures a cache type: base f32, quant q8_0, say.
   */
  baseCache?: KVCacheSpec;
  quantCache?: KVCacheSpec;
  onChunk?: (p: { chunk: number; chunks: number; kld: number }) => void;
}

export interface KldResult {
  /** Mean KL(P_base || P_quant) in nats, and its standard error. */
  kld: number;
  kldError: number;
  kldMedian: number;
  kld99: number;
  kldMax: number;
  /** Share of scored tokens where both models put the same token first. */
  top1: number;
  pplBase: number;
  pplQuant: number;
  tokens: number;
  seconds: number;
}

/** log-softmax of logits into out (f64). */
function logSoftmax(logits: Float32Array, out: Float64Array): number {
  let max = -Infinity, arg = 0;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) { max = logits[i]!; arg = i; }
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  const lse = max + Math.log(sum);
  for (let i = 0; i < logits.length; i++) out[i] = logits[i]! - lse;
  return arg;
}

export async function kldEval(base: Model, quant: Model, text: string, o: KldOptions = {}): Promise<KldResult> {
  const nCtx = o.ctx ?? 512;
  if (!Number.isInteger(nCtx) || nCtx < 4) throw new ArgumentError(`ctx must be an integer >= 4, got ${nCtx}`);
  if (base.hparams.nVocab !== quant.hparams.nVocab) throw new ArgumentError(`the models have different vocabularies (${base.hparams.nVocab} and ${quant.hparams.nVocab} tokens)`);
  const t0 = performance.now();
  if (text.endsWith('\n')) text = text.slice(0, -1);
  const tokens = base.tokenize(text, { addSpecial: true, parseSpecial: false });
  const available = Math.floor(tokens.length / nCtx);
  if (available === 0) throw new ArgumentError(`the text has ${tokens.length} tokens, fewer than one window of ${nCtx}`);
  const nChunks = o.chunks ? Math.min(o.chunks, available) : available;
  const bos = base.tokenizer.bos, addBos = base.tokenizer.addBos && bos !== undefined;
  const cb = base.createContext({ ctx: nCtx, batch: o.batch ?? Math.min(nCtx, 128), ...(o.baseCache ? { cacheType: o.baseCache } : {}) });
  const cq = quant.createContext({ ctx: nCtx, batch: o.batch ?? Math.min(nCtx, 128), kernels: o.quantKernels, ...(o.quantCache ? { cacheType: o.quantCache } : {}) });
  const nV = base.hparams.nVocab, first = nCtx >> 1;
  const lpB = new Float64Array(nV), lpQ = new Float64Array(nV);
  const baseLogits: Float32Array[] = [];
  const klds: number[] = [];
  let agree = 0, nllB = 0, nllQ = 0;
  const window = new Int32Array(nCtx);
  try {
    for (let c = 0; c < nChunks; c++) {
      throwIfAborted(o.signal);
      window.set(tokens.slice(c * nCtx, (c + 1) * nCtx));
      if (addBos) window[0] = bos!;
      baseLogits.length = 0;
      for (const [ctx, keep] of [[cb, true], [cq, false]] as const) {
        scoreWindow(ctx, window, (pos, logits) => {
          if (keep) { baseLogits.push(logits.slice()); return; }
          const b = baseLogits[pos - first]!;
          const ab = logSoftmax(b, lpB), aq = logSoftmax(logits, lpQ);
          let kl = 0;
          for (let v = 0; v < nV; v++) kl += Math.exp(lpB[v]!) * (lpB[v]! - lpQ[v]!);
          klds.push(Math.max(0, kl));
          if (ab === aq) agree++;
          const next = window[pos + 1]!;
          nllB -= lpB[next]!;
          nllQ -= lpQ[next]!;
        });
      }
      const n = klds.length;
      o.onChunk?.({ chunk: c, chunks: nChunks, kld: klds.reduce((a, b) => a + b, 0) / n });
      await new Promise<void>((r) => setImmediate(r));
    }
  } finally {
    cb.dispose();
    cq.dispose();
  }
  const n = klds.length;
  const mean = klds.reduce((a, b) => a + b, 0) / n;
  const variance = klds.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, n - 1);
  const sorted = [...klds].sort((a, b) => a - b);
  const pct = (p: number) => sorted[Math.min(n - 1, Math.floor(p * (n - 1) + 0.5))]!;
  return {
    kld: mean, kldError: Math.sqrt(variance / n), kldMedian: pct(0.5), kld99: pct(0.99), kldMax: sorted[n - 1]!,
    top1: agree / n, pplBase: Math.exp(nllB / n), pplQuant: Math.exp(nllQ / n), tokens: n, seconds: (performance.now() - t0) / 1000,
  };
}
