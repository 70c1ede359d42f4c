// `lutra chat --mmproj P`: pictures in a conversation. `/image FILE` attaches a picture to the next
// message (its place is mtmd's media marker in the message text); every turn renders the whole
// conversation and encodes it with its images, each decoded, sliced and encoded once
// (runtime/image-cache.ts), so a follow-up question about a picture runs no encoder.

import { readFile } from 'node:fs/promises';
import { ArgumentError, FileError, LutraError } from '../core/errors.js';
import type { GenerateChunk, GenerateOptions } from '../runtime/generate.js';
import type { Context } from '../runtime/context.js';
import { ImageCache } from '../runtime/image-cache.js';
import type { Model } from '../runtime/model.js';
import { encodeMarkedPrompt, generateWithImages, loadProjector, MEDIA_MARKER } from '../runtime/vision.js';
import type { PreparedImage } from '../vision/types.js';

export class ChatImages {
  /** The conversation's pictures, in the order of their markers. */
  private images: PreparedImage[] = [];
  private pending: PreparedImage[] = [];

  private constructor(readonly cache: ImageCache, private readonly verbose: boolean) {}

  /** `verbose`: a line per turn on stderr with the slices encoded and reused. */
  static async load(mmproj: string, model: Model, verbose = false): Promise<ChatImages> {
    return new ChatImages(new ImageCache(await loadProjector(mmproj, { kernels: model.kernels, model })), verbose);
  }

  /** Read, decode and slice a picture for the next message; returns its slice count. */
  async attach(file: string): Promise<number> {
    let bytes: Uint8Array;
    try { bytes = new Uint8Array(await readFile(file)); } catch (e) { throw new FileError(file, (e as Error).message); }
    let prepared: PreparedImage;
    try {
      prepared = await this.cache.prepare(bytes, file);
    } catch (e) {
      // A bad picture is the user's to fix: say so (the error names the file) and keep the chat.
      if (e instanceof LutraError) throw new ArgumentError(e.message);
      throw e;
    }
    this.pending.push(prepared);
    return prepared.slices.length;
  }

  /** The next message's text with the pending pictures' markers in front. */
  message(text: string): string {
    if (text.includes(MEDIA_MARKER)) throw new ArgumentError(`a message cannot contain ${MEDIA_MARKER} (attach pictures with /image FILE)`);
    const out = MEDIA_MARKER.repeat(this.pending.length) + text;
    this.images.push(...this.pending);
    this.pending = [];
    return out;
  }

  get empty(): boolean { return this.images.length === 0; }

  /** Forget the pictures (with /reset or /load). */
  reset(): void { this.images = []; this.pending = []; }

  /** The reply to the rendered conversation `text`, its images decoded in place. */
  generate(model: Model, ctx: Context, text: string, opts: GenerateOptions): AsyncGenerator<GenerateChunk> {
    const { encoded, reused } = this.cache.stats;
    const prompt = encodeMarkedPrompt(model, this.cache.projector, text, this.images, (found) => new ArgumentError(`the conversation has ${found} picture places for ${this.images.length} pictures (were turns dropped? /reset starts over)`));
    if (this.verbose) {
      const ms = prompt.images.reduce((a, b) => a + b.ms, 0);
      const each = prompt.images.map((im, i) => `image ${i + 1}: ${im.slices} slices, ${im.tokens} embeddings, ${im.ms.toFixed(0)} ms`).join('; ');
      process.stderr.write(`[images: ${this.cache.stats.encoded - encoded} slices encoded, ${this.cache.stats.reused - reused} reused, ${ms.toFixed(0)} ms; ${each}]\n`);
    }
    return generateWithImages(model, ctx, prompt, opts);
  }

  dispose(): void { this.cache.base.dispose(); }
}
