// The bytes behind an OpenAI `image_url` content part: a `data:image/png;base64,...` URL decoded in
// place, or an http(s) URL fetched with a byte cap, a deadline and a content-type check (off unless
// the engine allows remote images: a server that fetches any URL a client names is a proxy). The
// header of what arrives is read before it is decoded (vision/image.ts refuses huge images), and
// every error names the part (`messages[1].content[2].image_url`). Not here: decoding pixels.

import { AbortError } from '../core/errors.js';
import { InvalidRequestError } from './schema.js';

export interface ImageFetchOptions {
  /** Fetch http(s) URLs at all (default false: only data URLs). */
  allowRemote?: boolean;
  /** Largest encoded image accepted, bytes (default 20 MiB). */
  maxBytes?: number;
  /** Deadline for one fetch, ms (default 10 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export const DEFAULT_MAX_IMAGE_BYTES = 20 * 2 ** 20;
const ACCEPTED_TYPES = new Set(['image/png', 'image/jpeg', 'image/jpg']);

/** Decodes a base64 string (standard or URL alphabet, whitespace allowed) or throws. */
function base64Bytes(text: string, param: string): Uint8Array {
  const clean = text.replace(/\s+/g, '').replace(/-/g, '+').replace(/_/g, '/');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean)) throw new InvalidRequestError(param, 'the data URL is not valid base64');
  const bin = atob(clean);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** The image bytes an `image_url.url` names. `param` is the request path used in errors. */
export async function fetchImageBytes(url: string, param: string, opts: ImageFetchOptions = {}): Promise<Uint8Array> {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_IMAGE_BYTES;
  if (url.startsWith('data:')) {
    const comma = url.indexOf(',');
    if (comma < 0) throw new InvalidRequestError(param, 'the data URL has no comma before its data');
    const meta = url.slice(5, comma).toLowerCase().split(';');
    if (!ACCEPTED_TYPES.has(meta[0]!)) throw new InvalidRequestError(param, `data URL of type ${JSON.stringify(meta[0])}: only image/png and image/jpeg are accepted`);
    if (!meta.includes('base64')) throw new InvalidRequestError(param, 'the data URL must be base64-encoded (data:image/png;base64,...)');
    // Base64 holds 3 bytes in 4 characters: refuse by length before decoding a giant string.
    if ((url.length - comma - 1) * 3 / 4 > maxBytes + 3) throw new InvalidRequestError(param, `the image is larger than ${maxBytes} bytes`);
    return base64Bytes(url.slice(comma + 1), param);
  }
  let parsed: URL;
  try { parsed = new URL(url); } catch { throw new InvalidRequestError(param, 'expected a data: URL or an http(s) URL'); }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new InvalidRequestError(param, `URL scheme ${parsed.protocol} is not accepted: use data: or http(s)`);
  if (!opts.allowRemote) throw new InvalidRequestError(param, 'this server does not fetch image URLs (start it with --allow-image-urls); send the image as a data URL');
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const deadline = AbortSignal.timeout(timeoutMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, deadline]) : deadline;
  try {
    const res = await fetch(parsed, { signal, redirect: 'follow' });
    if (!res.ok) throw new InvalidRequestError(param, `fetching ${parsed.origin}${parsed.pathname} answered HTTP ${res.status}`);
    const type = (res.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    if (!ACCEPTED_TYPES.has(type)) throw new InvalidRequestError(param, `${parsed.origin}${parsed.pathname} is ${JSON.stringify(type || 'untyped')}, not image/png or image/jpeg`);
    const declared = Number(res.headers.get('content-length') ?? NaN);
    if (declared > maxBytes) throw new InvalidRequestError(param, `the image is ${declared} bytes, more than ${maxBytes}`);
    const chunks: Uint8Array[] = [];
    let n = 0;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      n += chunk.byteLength;
      if (n > maxBytes) throw new InvalidRequestError(param, `the image is more than ${maxBytes} bytes`);
      chunks.push(chunk);
    }
    const out = new Uint8Array(n);
    let o = 0;
    for (const c of chunks) { out.set(c, o); o += c.byteLength; }
    return out;
  } catch (e) {
    if (e instanceof InvalidRequestError) throw e;
    if (opts.signal?.aborted) throw new AbortError();
    if (deadline.aborted) throw new InvalidRequestError(param, `fetching the image took more than ${timeoutMs} ms`);
    throw new InvalidRequestError(param, `fetching the image failed: ${(e as Error).message}`);
  }
}
