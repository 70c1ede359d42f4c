// What sets a file's architecture apart from the Llama block, read from its metadata alone (so
// `lutra inspect` can say it of a file lutra cannot run): experts, multi-head latent attention,
// sliding-window layers, soft-capping, a chosen FFN activation. Plain data; the CLI prints it.

import type { GGUFValue } from '../formats/gguf.js';
import { GENERAL, hpKey, type HParamKey } from '../formats/gguf-names.js';
import { Meta } from './hparams.js';

export interface ArchSummary {
  arch: string;
  /** Mixture of experts: experts per layer, used per token, rows of each (and of a shared expert). */
  experts?: { count: number; used: number; feedForward?: number; sharedFeedForward?: number; sharedCount?: number };
  /** Multi-head latent attention (MiniCPM3, DeepSeek-V2): the low-rank q and kv, key/value sizes per head, rotated dims. */
  mla?: { qLoraRank: number; kvLoraRank: number; keyLength?: number; valueLength?: number; ropeDims?: number };
  /** Sliding-window attention: the window, the layer pattern (every pattern-th layer global) and the local layers. */
  slidingWindow?: { window: number; pattern: number; localLayers: number; layers: number; ropeBaseLocal?: number };
  finalLogitSoftcapping?: number;
  attnLogitSoftcapping?: number;
  hiddenActivation?: string;
}

/** The summary of `metadata`; only the parts the file states. */
export function archSummary(metadata: Map<string, GGUFValue>, file: string): ArchSummary | undefined {
  const m = new Meta(metadata, file);
  const arch = m.str(GENERAL.architecture, undefined);
  if (!arch) return undefined;
  const num = (k: HParamKey) => (m.has(hpKey(arch, k)) ? m.num(hpKey(arch, k)) : undefined);
  const out: ArchSummary = { arch };
  const count = num('expertCount');
  if (count) {
    out.experts = { count, used: num('expertUsedCount') ?? 0 };
    const ff = num('expertFeedForwardLength'), sff = num('expertSharedFeedForwardLength'), sc = num('expertSharedCount');
    if (ff !== undefined) out.experts.feedForward = ff;
    if (sff !== undefined) out.experts.sharedFeedForward = sff;
    if (sc !== undefined) out.experts.sharedCount = sc;
  }
  const kvLora = num('kvLoraRank');
  if (kvLora) {
    out.mla = { qLoraRank: num('qLoraRank') ?? 0, kvLoraRank: kvLora };
    const kl = num('keyLength'), vl = num('valueLength'), rd = num('ropeDimensionCount');
    if (kl !== undefined) out.mla.keyLength = kl;
    if (vl !== undefined) out.mla.valueLength = vl;
    if (rd !== undefined) out.mla.ropeDims = rd;
  }
  const window = num('slidingWindow');
  if (window) {
    // llama.cpp's set_swa_pattern: layer l is local unless l % pattern == pattern - 1 (default 6).
    const pattern = num('slidingWindowPattern') ?? 6, layers = num('blockCount') ?? 0;
    let localLayers = 0;
    for (let l = 0; l < layers; l++) if (pattern === 0 || l % pattern < pattern - 1) localLayers++;
    out.slidingWindow = { window, pattern, localLayers, layers };
    const base = num('ropeFreqBaseSwa');
    if (base !== undefined) out.slidingWindow.ropeBaseLocal = base;
  }
  const fcap = num('finalLogitSoftcapping'), acap = num('attnLogitSoftcapping');
  if (fcap) out.finalLogitSoftcapping = fcap;
  if (acap) out.attnLogitSoftcapping = acap;
  const act = m.str(hpKey(arch, 'hiddenActivation'), undefined);
  if (act) out.hiddenActivation = act;
  return out;
}

/** The summary as lines for a terminal (none for a plain Llama-block file). */
export function archSummaryLines(s: ArchSummary): string[] {
  const lines: string[] = [];
  const x = s.experts;
  if (x) {
    const shared = x.sharedFeedForward ? `; shared expert of ${x.sharedFeedForward} rows${x.sharedCount ? ` x ${x.sharedCount}` : ''}` : '';
    lines.push(`experts: ${x.count} per layer, ${x.used} used per token${x.feedForward ? `, ${x.feedForward} rows each` : ''}${shared}`);
  }
  const a = s.mla;
  if (a) {
    lines.push(`multi-head latent attention: q_lora_rank ${a.qLoraRank}, kv_lora_rank ${a.kvLoraRank}${a.keyLength ? `, key ${a.keyLength}` : ''}${a.ropeDims ? ` (${a.ropeDims} rotated)` : ''}${a.valueLength ? `, value ${a.valueLength} per head` : ''}`);
  }
  const w = s.slidingWindow;
  if (w) {
    lines.push(`sliding window: ${w.window} positions on ${w.localLayers} of ${w.layers} layers (1 in ${w.pattern} global)${w.ropeBaseLocal !== undefined ? `, local RoPE base ${w.ropeBaseLocal}` : ''}`);
  }
  if (s.finalLogitSoftcapping) lines.push(`final logit soft-capping: ${s.finalLogitSoftcapping}`);
  if (s.attnLogitSoftcapping) lines.push(`attention logit soft-capping: ${s.attnLogitSoftcapping}`);
  if (s.hiddenActivation) lines.push(`FFN activation: ${s.hiddenActivation}`);
  return lines;
}
