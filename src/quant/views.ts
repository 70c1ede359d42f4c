// Typed views over a whole ArrayBuffer, made once per buffer, so dot products over F32/F16 rows can
// index elements directly without allocating a view per row in the hot loop.

const f32Views = new WeakMap<ArrayBufferLike, Float32Array>();
const u16Views = new WeakMap<ArrayBufferLike, Uint16Array>();

// The last buffer seen: every row of a matmul comes from the same file buffer, so this identity
// check answers almost every call without the WeakMap lookup.
let lastF32Buf: ArrayBufferLike | undefined;
let lastF32View: Float32Array = new Float32Array(0);
let lastU16Buf: ArrayBufferLike | undefined;
let lastU16View: Uint16Array = new Uint16Array(0);

export function f32View(b: Uint8Array): Float32Array {
  if (b.buffer === lastF32Buf) return lastF32View;
  let v = f32Views.get(b.buffer);
  if (!v) {
    v = new Float32Array(b.buffer, 0, b.buffer.byteLength >>> 2);
    f32Views.set(b.buffer, v);
  }
  lastF32Buf = b.buffer;
  lastF32View = v;
  return v;
}

export function u16View(b: Uint8Array): Uint16Array {
  if (b.buffer === lastU16Buf) return lastU16View;
  let v = u16Views.get(b.buffer);
  if (!v) {
    v = new Uint16Array(b.buffer, 0, b.buffer.byteLength >>> 1);
    u16Views.set(b.buffer, v);
  }
  lastU16Buf = b.buffer;
  lastU16View = v;
  return v;
}

/** Little-endian f16 bits at a byte offset (blocks are not 2-aligned, so read bytes). */
export function readU16(b: Uint8Array, off: number): number {
  return b[off]! | (b[off + 1]! << 8);
}

export function writeU16(b: Uint8Array, off: number, v: number): void {
  b[off] = v & 0xff;
  b[off + 1] = (v >>> 8) & 0xff;
}
