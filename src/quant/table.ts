// The one quant table: every ggml tensor type lutra knows the size of, and, for those it can
// compute with, the format implementation. Code outside quant/ reads a format's traits (vecDot,
// lut, wasm) instead of switching on its id; the WebAssembly kernels, which do dispatch on ids,
// get their names from GGML_TYPES below (scripts/build-wasm.mjs generates assembly/types.generated.ts).

import { UnsupportedError } from '../core/errors.js';
import type { QuantFormat } from './types.js';
import { F32, F16, BF16 } from './float.js';
import { Q8_0 } from './q8_0.js';
import { Q4_0 } from './q4_0.js';
import { Q4_1 } from './q4_1.js';
import { Q5_0 } from './q5_0.js';
import { Q5_1 } from './q5_1.js';
import { Q2_K } from './q2_K.js';
import { Q3_K } from './q3_K.js';
import { Q4_K } from './q4_K.js';
import { Q5_K } from './q5_K.js';
import { Q6_K } from './q6_K.js';
import { Q8_K } from './q8_K.js';
import { TQ1_0 } from './tq1_0.js';
import { TQ2_0 } from './tq2_0.js';
import { MXFP4 } from './mxfp4.js';
import { IQ4_NL } from './iq4_nl.js';
import { decodeLutraType, isLutraType } from './lutra-types.js';
import { intFormat } from './int.js';
import { minifloatFormat } from './minifloat.js';

export interface GGMLTypeInfo {
  id: number;
  name: string;
  blockSize: number;
  typeSize: number;
}

/** ggml's on-disk type ids and block geometry (ggml.c type_traits). Ids never change. */
const GGML_TYPES: GGMLTypeInfo[] = [
  { id: 0, name: 'F32', blockSize: 1, typeSize: 4 },
  { id: 1, name: 'F16', blockSize: 1, typeSize: 2 },
  { id: 2, name: 'Q4_0', blockSize: 32, typeSize: 18 },
  { id: 3, name: 'Q4_1', blockSize: 32, typeSize: 20 },
  { id: 6, name: 'Q5_0', blockSize: 32, typeSize: 22 },
  { id: 7, name: 'Q5_1', blockSize: 32, typeSize: 24 },
  { id: 8, name: 'Q8_0', blockSize: 32, typeSize: 34 },
  { id: 9, name: 'Q8_1', blockSize: 32, typeSize: 36 },
  { id: 10, name: 'Q2_K', blockSize: 256, typeSize: 84 },
  { id: 11, name: 'Q3_K', blockSize: 256, typeSize: 110 },
  { id: 12, name: 'Q4_K', blockSize: 256, typeSize: 144 },
  { id: 13, name: 'Q5_K', blockSize: 256, typeSize: 176 },
  { id: 14, name: 'Q6_K', blockSize: 256, typeSize: 210 },
  { id: 15, name: 'Q8_K', blockSize: 256, typeSize: 292 },
  { id: 16, name: 'IQ2_XXS', blockSize: 256, typeSize: 66 },
  { id: 17, name: 'IQ2_XS', blockSize: 256, typeSize: 74 },
  { id: 18, name: 'IQ3_XXS', blockSize: 256, typeSize: 98 },
  { id: 19, name: 'IQ1_S', blockSize: 256, typeSize: 50 },
  { id: 20, name: 'IQ4_NL', blockSize: 32, typeSize: 18 },
  { id: 21, name: 'IQ3_S', blockSize: 256, typeSize: 110 },
  { id: 22, name: 'IQ2_S', blockSize: 256, typeSize: 82 },
  { id: 23, name: 'IQ4_XS', blockSize: 256, typeSize: 136 },
  { id: 24, name: 'I8', blockSize: 1, typeSize: 1 },
  { id: 25, name: 'I16', blockSize: 1, typeSize: 2 },
  { id: 26, name: 'I32', blockSize: 1, typeSize: 4 },
  { id: 27, name: 'I64', blockSize: 1, typeSize: 8 },
  { id: 28, name: 'F64', blockSize: 1, typeSize: 8 },
  { id: 29, name: 'IQ1_M', blockSize: 256, typeSize: 56 },
  { id: 30, name: 'BF16', blockSize: 1, typeSize: 2 },
  { id: 34, name: 'TQ1_0', blockSize: 256, typeSize: 54 },
  { id: 35, name: 'TQ2_0', blockSize: 256, typeSize: 66 },
  { id: 39, name: 'MXFP4', blockSize: 32, typeSize: 17 },
];

const byId = new Map<number, GGMLTypeInfo>(GGML_TYPES.map((t) => [t.id, t]));
const formats = new Map<number, QuantFormat>();

/** Register a format implementation (lutra's own types register here the first time their id is seen). */
export function registerFormat(f: QuantFormat): void {
  formats.set(f.id, f);
  if (!byId.has(f.id)) byId.set(f.id, { id: f.id, name: f.name, blockSize: f.blockSize, typeSize: f.typeSize });
}

for (const f of [F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K, TQ1_0, TQ2_0, MXFP4, IQ4_NL]) registerFormat(f);

/** lutra's own types carry their parameters in the id: make the format the first time one is seen. */
function lutraType(id: number): boolean {
  if (!isLutraType(id)) return false;
  const p = decodeLutraType(id);
  if (!p) return false;
  registerFormat(p.family === 'int' ? intFormat(p) : minifloatFormat(p));
  return true;
}

export function ggmlTypeInfo(id: number): GGMLTypeInfo | undefined {
  return byId.get(id) ?? (lutraType(id) ? byId.get(id) : undefined);
}

export function ggmlTypeName(id: number): string {
  return ggmlTypeInfo(id)?.name ?? (isLutraType(id) ? `type#${id} (lutra private range, not a valid lutra type)` : `type#${id}`);
}

export function ggmlTypeByName(name: string): GGMLTypeInfo | undefined {
  const up = name.toUpperCase();
  for (const t of byId.values()) if (t.name === up) return t;
  return undefined;
}

/** The implementation for a type id, or a clear error naming the type (and the tensor, if given). */
export function quantFormat(id: number, tensor?: string): QuantFormat {
  const f = formats.get(id) ?? (lutraType(id) ? formats.get(id) : undefined);
  if (f) return f;
  const where = tensor ? `tensor ${tensor}: ` : '';
  throw new UnsupportedError(`${where}tensor type ${ggmlTypeName(id)} is not supported yet (lutra computes with ${[...formats.values()].map((x) => x.name).join(', ')})`);
}

export function hasFormat(id: number): boolean {
  return formats.has(id) || lutraType(id);
}

export function tensorBytes(id: number, nElements: number): number {
  const t = ggmlTypeInfo(id);
  if (!t) throw new UnsupportedError(`unknown ggml type id ${id}`);
  return (nElements / t.blockSize) * t.typeSize;
}
