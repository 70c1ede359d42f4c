// Images a session has seen, by content (SHA-256 of the encoded bytes): decoded and sliced once,
// each slice encoded once. A chat that asks a second question about the same picture, or a server
// client that sends it again, reuses both; the encoder does not run. `projector` is the projector
// seen through the cache: hand it to encodePrompt (runtime/vision.ts) in place of the real one.
// Least recently used images are dropped past `maxImages`. Not here: where bytes come from.

import type { Projector } from '../vision/projector.js';
import { decodeImage, DEFAULT_IMAGE_LIMITS, type ImageLimits, type RgbImage } from '../vision/image.js';
import { preprocessImage } from '../vision/slicing.js';
import type { PreparedImage, PreparedSlice } from '../vision/types.js';

export interface ImageCacheStats {
  /** Slices run through the encoder, and slices whose embeddings came from the cache. */
  encoded: number;
  reused: number;
  images: number;
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const d = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  return Array.from(d, (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * Bytes to RGB: vision/image.ts's decodeImage by default; a page may pass one on createImageBitmap
 * (it must check the header against `limits` before it allocates pixels, as decodeImage does).
 */
export type ImageDecoder = (bytes: Uint8Array, name: string, limits: ImageLimits) => RgbImage | Promise<RgbImage>;

export class ImageCache {
  private readonly images = new Map<string, PreparedImage>();
  private readonly embeddings = new WeakMap<PreparedSlice, Float32Array>();
  readonly stats: ImageCacheStats = { encoded: 0, reused: 0, images: 0 };
  /** The projector with encode() answered from the cache for slices it has encoded before. */
  readonly projector: Projector;

  constructor(readonly base: Projector, private readonly opts: { maxImages?: number; limits?: ImageLimits; decode?: ImageDecoder } = {}) {
    const cache = this;
    this.projector = new Proxy(base, {
      get(target, prop) {
        if (prop === 'encode') return (slice: PreparedSlice) => cache.encode(slice);
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  }

  /** Decoded and sliced for the projector; the same bytes give the same PreparedImage (and its cached embeddings). */
  async prepare(bytes: Uint8Array, name: string): Promise<PreparedImage> {
    const key = await sha256(bytes);
    const hit = this.images.get(key);
    if (hit) {
      this.images.delete(key);
      this.images.set(key, hit);
      return hit;
    }
    const rgb = await (this.opts.decode ?? decodeImage)(bytes, name, this.opts.limits ?? DEFAULT_IMAGE_LIMITS);
    const prepared = preprocessImage(rgb, this.base.hparams);
    this.images.set(key, prepared);
    this.stats.images++;
    const max = this.opts.maxImages ?? 8;
    while (this.images.size > max) this.images.delete(this.images.keys().next().value!);
    return prepared;
  }

  private encode(slice: PreparedSlice): Float32Array {
    const hit = this.embeddings.get(slice);
    if (hit) { this.stats.reused++; return hit; }
    const out = this.base.encode(slice);
    // The projector may hand back a view of its scratch: keep a copy.
    const copy = out.slice();
    this.embeddings.set(slice, copy);
    this.stats.encoded++;
    return copy;
  }
}
