// Twin of assembly/attention-tiled.ts: causal attention for query batches of 64 or more tokens, as
// llama.cpp's tiled CPU flash attention computes it (Q in f32, keys in tiles of 64 from position 0,
// one softmax update per tile, f32 throughout). Every f32 operation is rounded as the WebAssembly
// kernel rounds it, in the same order, so the two agree bit for bit. A row's result depends only on
// its own query and the tiles, so this twin walks one row at a time.

import type { AttentionParams } from '../types.js';
import { F16_TO_F32 } from '../../core/f16.js';
import { expF32 } from './exp.js';

/** Query batches of at least this many tokens take the tiled path (ggml's GGML_FA_TILE_Q). */
export const TILED_MIN_TOKENS = 64;
/** Keys per tile (ggml's GGML_FA_TILE_KV). */
const KT = 64;

const f = Math.fround;

/** Scratch one call needs: one key's scores and one row's accumulator. */
export class TiledAttentionRef {
  private sc = new Float32Array(KT);
  private acc = new Float32Array(0);
  private lanes = new Float64Array(4);

  attention(q: Float32Array, kCache: Float32Array | Uint16Array, vCache: Float32Array | Uint16Array, nTok: number, pos0: number, p: AttentionParams, out: Float32Array): void {
    const { nHead, nHeadKv, headDim, headDimV } = p;
    const scale = f(p.scale);
    const group = nHead / nHeadKv;
    const kStride = nHeadKv * headDim, vStride = nHeadKv * headDimV;
    const kv = (c: Float32Array | Uint16Array, i: number): number => (p.f16 ? F16_TO_F32[c[i]!]! : c[i]!);
    if (this.acc.length < headDimV) this.acc = new Float32Array(headDimV);
    const sc = this.sc, acc = this.acc, lanes = this.lanes;
    for (let t = 0; t < nTok; t++) {
      const pos = pos0 + t;
      for (let h = 0; h < nHead; h++) {
        const kvh = Math.floor(h / group);
        const qo = (t * nHead + h) * headDim;
        acc.fill(0, 0, headDimV);
        let M = -Infinity, S = 0;
        for (let j0 = 0; j0 <= pos; j0 += KT) {
          const valid = Math.min(KT, pos + 1 - j0);
          let m = -Infinity;
          for (let k = 0; k < valid; k++) {
            const ko = (j0 + k) * kStride + kvh * headDim;
            let s = 0;
            for (let d = 0; d < headDim; d++) s = f(s + f(q[qo + d]! * kv(kCache, ko + d)));
            sc[k] = f(s * scale);
            m = Math.max(m, sc[k]!);
          }
          const mNew = Math.max(M, m);
          if (mNew > M) {
            const ms = expF32(f(M - mNew));
            for (let e = 0; e < headDimV; e++) acc[e] = f(acc[e]! * ms);
            S = f(S * ms);
            M = mNew;
          }
          lanes.fill(0);
          for (let k = 0; k < valid; k++) {
            const e = expF32(f(sc[k]! - mNew));
            sc[k] = e;
            lanes[k & 3] = f(lanes[k & 3]! + e);
          }
          S = f(S + f(f(f(lanes[0]! + lanes[1]!) + lanes[2]!) + lanes[3]!));
          for (let k = 0; k < valid; k++) {
            const vo = (j0 + k) * vStride + kvh * headDimV, pk = sc[k]!;
            for (let e = 0; e < headDimV; e++) acc[e] = f(acc[e]! + f(pk * kv(vCache, vo + e)));
          }
        }
        const inv = S === 0 ? 0 : f(1 / S);
        const oo = (t * nHead + h) * headDimV;
        for (let e = 0; e < headDimV; e++) out[oo + e] = f(acc[e]! * inv);
      }
    }
  }
}
