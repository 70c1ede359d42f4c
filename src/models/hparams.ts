// Typed access to GGUF-style metadata with errors that name the missing or malformed key.

import { ModelError } from '../core/errors.js';
import { plainValue, type GGUFValue } from '../formats/gguf.js';

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
    if (typeof v !== 'string') throw new ModelError(`${this.file}: metadata ${key} should be a string, got ${typeof v}`);
    return v;
  }

  /** A number; per-layer arrays are accepted and must be uniform unless `layer` picks one entry. */
  num(key: string, dflt?: number, layer?: number): number {
    const v = this.raw(key);
    if (v === undefined) {
      if (dflt !== undefined) return dflt;
      throw new ModelError(`${this.file}: missing metadata key ${key}`);
    }
    if (typeof v === 'number') return v;
    if (typeof v === 'boolean') return v ? 1 : 0;
    if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
      const arr = Array.from(v as unknown as ArrayLike<number>, Number);
      if (arr.length === 0) throw new ModelError(`${this.file}: metadata ${key} is an empty array`);
      if (layer !== undefined) {
        if (layer >= arr.length) throw new ModelError(`${this.file}: metadata ${key} has ${arr.length} entries, need layer ${layer}`);
        return arr[layer]!;
      }
      if (arr.some((x) => x !== arr[0])) throw new ModelError(`${this.file}: metadata ${key} varies per layer, which lutra does not support yet`);
      return arr[0]!;
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
