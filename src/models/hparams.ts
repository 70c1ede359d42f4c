// Typed access to GGUF-style metadata with errors that name the missing or malformed key. Every
// number read is finite, and the keys below are range-checked where they are read, so a NaN epsilon
// or a negative RoPE base fails at load, naming the key, instead of producing empty text.

import { ModelError } from '../core/errors.js';
import { GGUFType, plainValue, type GGUFValue } from '../formats/gguf.js';

/**
 * Ranges of the float hyper-parameters, by key suffix: '>0' strictly positive, '>=0' where llama.cpp
 * reads 0 as "not set" (rope.scaling.factor 0 means no scaling), 'nonzero' for divisors.
 */
const RANGES: ReadonlyArray<[suffix: string, range: '>0' | '>=0' | 'nonzero']> = [
  ['.attention.layer_norm_rms_epsilon', '>0'],
  ['.attention.layer_norm_epsilon', '>0'],
  ['.rope.freq_base', '>0'],
  ['.rope.scaling.factor', '>=0'],
  ['.rope.scale_linear', '>=0'],
  ['.rope.scaling.attn_factor', '>0'],
  ['.rope.scaling.original_context_length', '>0'],
  ['.logit_scale', 'nonzero'],
];

const RANGE_TEXT = { '>0': '> 0', '>=0': '>= 0', nonzero: 'non-zero' } as const;

/** `label` is the key as printed (with the layer index for per-layer arrays). */
function checkRange(file: string, key: string, v: number, label = key): number {
  if (!Number.isFinite(v)) throw new ModelError(`${file}: metadata ${label} = ${v} is not a finite number`);
  for (const [suffix, range] of RANGES) {
    if (!key.endsWith(suffix)) continue;
    const ok = range === '>0' ? v > 0 : range === '>=0' ? v >= 0 : v !== 0;
    if (!ok) throw new ModelError(`${file}: metadata ${label} = ${v} is out of range (must be ${RANGE_TEXT[range]})`);
  }
  return v;
}

export class Meta {
  constructor(readonly map: Map<string, GGUFValue>, readonly file: string) {}

  has(key: string): boolean {
    return this.map.has(key);
  }

  raw(key: string): unknown {
    const v = this.map.get(key);
    return v === undefined ? undefined : plainValue(v);
  }

  str(key: string): string;
  str(key: string, dflt: string | undefined): string | undefined;
  str(key: string, ...dflt: [string | undefined] | []): string | undefined {
    const v = this.raw(key);
    if (v === undefined) {
      if (dflt.length) return dflt[0];
      throw new ModelError(`${this.file}: missing metadata key ${key}`);
    }
    if (typeof v !== 'string') throw new ModelError(`${this.file}: metadata ${key} should be a string, file has ${ggufTypeName(this.map.get(key)!)}`);
    return v;
  }

  /** A number; per-layer arrays are accepted and must be uniform unless `layer` picks one entry. */
  num(key: string, dflt?: number, layer?: number): number {
    const v = this.raw(key);
    if (v === undefined) {
      if (dflt !== undefined) return dflt;
      throw new ModelError(`${this.file}: missing metadata key ${key}`);
    }
    if (typeof v === 'number') return checkRange(this.file, key, v);
    if (typeof v === 'boolean') return v ? 1 : 0;
    if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
      const arr = Array.from(v as unknown as ArrayLike<number>, Number);
      if (arr.length === 0) throw new ModelError(`${this.file}: metadata ${key} is an empty array`);
      if (layer !== undefined) {
        if (layer >= arr.length) throw new ModelError(`${this.file}: metadata ${key} has ${arr.length} entries, need layer ${layer}`);
        return checkRange(this.file, key, arr[layer]!, `${key}[${layer}]`);
      }
      if (arr.some((x) => x !== arr[0])) throw new ModelError(`${this.file}: metadata ${key} varies per layer, which lutra does not support yet`);
      return checkRange(this.file, key, arr[0]!);
    }
    throw new ModelError(`${this.file}: metadata ${key} should be a number, got ${typeof v}`);
  }

  bool(key: string, dflt: boolean): boolean {
    const v = this.raw(key);
    if (v === undefined) return dflt;
    if (typeof v === 'boolean') return v;
    if (typeof v === 'number') return v !== 0;
    throw new ModelError(`${this.file}: metadata ${key} should be a bool`);
  }
}

/** Positive integer check with a message naming the key. */
export function positiveInt(file: string, key: string, v: number): number {
  if (!Number.isInteger(v) || v <= 0 || v > 1 << 24) throw new ModelError(`${file}: metadata ${key} = ${v} is not a valid size`);
  return v;
}

/** The on-disk type of a metadata value as gguf-py names it: UINT32, STRING, ARRAY[FLOAT32], ... */
export function ggufTypeName(v: GGUFValue): string {
  return v.type === GGUFType.ARRAY ? `ARRAY[${GGUFType[v.itemType] ?? v.itemType}]` : (GGUFType[v.type] ?? String(v.type));
}
