// Chat requests with `image_url` parts: the engine's projector and image cache (EngineVision), the
// images fetched (image-input.ts), decoded and sliced once per content (runtime/image-cache.ts),
// the chat rendered with a media marker where each image was and the prompt encoded around the
// markers (runtime/vision.ts), as llama-server does with mtmd. The job then carries the image rows
// (Job.images) and runJob decodes them in place. Not here: the encoder, the layout.

import { ArgumentError } from '../core/errors.js';
import { ImageCache, type ImageDecoder } from '../runtime/image-cache.js';
import type { Model } from '../runtime/model.js';
import { encodeMarkedPrompt, loadProjector, MEDIA_MARKER, type EncodedPrompt } from '../runtime/vision.js';
import type { PreparedImage } from '../vision/types.js';
import { LutraError } from '../core/errors.js';
import { fetchImageBytes, type ImageFetchOptions } from './image-input.js';
import { InvalidRequestError } from './schema.js';
import type { ChatCompletionMessageParam } from './types.js';

/** Where an image part was in the rendered chat: mtmd's default media marker. */
export { MEDIA_MARKER };

export interface EngineImageOptions extends ImageFetchOptions {
  /** Images kept decoded and encoded for reuse (default 8). */
  maxImages?: number;
  /** Bytes to RGB (default: vision/image.ts, pure JavaScript; the chat page's worker decodes with createImageBitmap). */
  decode?: ImageDecoder;
}

/** A loaded projector and the images the engine has already encoded. */
export class EngineVision {
  readonly cache: ImageCache;
  private constructor(readonly file: string, cache: ImageCache, readonly images: EngineImageOptions) { this.cache = cache; }

  static async load(mmproj: string | Uint8Array, model: Model, images: EngineImageOptions = {}): Promise<EngineVision> {
    const projector = await loadProjector(mmproj, { kernels: model.kernels, model });
    return new EngineVision(typeof mmproj === 'string' ? mmproj : '<bytes>', new ImageCache(projector, { maxImages: images.maxImages, decode: images.decode }), images);
  }

  /**
   * The same projector with an image cache of its own (a chat session's: its pictures stay encoded
   * whatever other requests bring). Disposing the engine's disposes the projector; not this one's.
   */
  withOwnCache(maxImages = this.images.maxImages): EngineVision {
    return new EngineVision(this.file, new ImageCache(this.cache.base, { maxImages, decode: this.images.decode }), this.images);
  }

  dispose(): void { this.cache.base.dispose(); }
}

/** Whether any message has an image part. */
export function hasImageParts(messages: ChatCompletionMessageParam[]): boolean {
  return messages.some((m) => Array.isArray(m.content) && m.content.some((p) => p.type === 'image_url'));
}

/**
 * The chat's prompt with its images: `text` is the rendered chat with one MEDIA_MARKER per image
 * part, in message order; each image is fetched, prepared (or found in the cache) and encoded.
 */
export async function encodeImageChat(model: Model, vision: EngineVision | undefined, messages: ChatCompletionMessageParam[], text: string, signal?: AbortSignal): Promise<EncodedPrompt> {
  const urls: { url: string; param: string }[] = [];
  messages.forEach((m, i) => {
    if (Array.isArray(m.content)) m.content.forEach((p, j) => { if (p.type === 'image_url') urls.push({ url: p.image_url.url, param: `messages[${i}].content[${j}].image_url` }); });
  });
  if (!vision) throw new InvalidRequestError(urls[0]?.param ?? 'messages', 'this model takes no images: load it with a projector (--mmproj FILE)');
  const mismatch = (found: number) => new InvalidRequestError('messages', `the rendered chat has ${found} image places for ${urls.length} image parts (is "${MEDIA_MARKER}" in a text part, or does the template drop a message?)`);
  const found = text.split(MEDIA_MARKER).length - 1;
  if (found !== urls.length) throw mismatch(found);
  const images: PreparedImage[] = [];
  for (const { url, param } of urls) {
    const bytes = await fetchImageBytes(url, param, { ...vision.images, signal });
    try {
      images.push(await vision.cache.prepare(bytes, param));
    } catch (e) {
      // Decoding errors name the part; a client sent them, so they are its 400s.
      if (e instanceof LutraError && !(e instanceof InvalidRequestError)) throw new InvalidRequestError(param, e.message.replace(`${param}: `, ''), e.code === 'E_IMAGE_TOO_LARGE' ? 'image_too_large' : 'invalid_image');
      throw e;
    }
  }
  try {
    return encodeMarkedPrompt(model, vision.cache.projector, text, images, mismatch);
  } catch (e) {
    if (e instanceof ArgumentError) throw new InvalidRequestError('messages', e.message);
    throw e;
  }
}
