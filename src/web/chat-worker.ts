// The chat page's engine, in a module worker so generation never blocks the page. Loads a model
// (URL or hf: reference through the OPFS cache, split GGUFs shard by shard, or local Files) and
// optionally its projector (pictures, decoded here with createImageBitmap), then serves
// OpenAI-shaped requests streamed back as chunk messages. It imports the engine from ./lutra.js, the same bundle a web page would use.

import {
  accessHint, checkImageSize, createEngine, fetchModelCached, FormatError, hubModelUrls, HUB_ENDPOINT, readImageHeader, shardUrls, tokenHeaders,
  type Engine, type ImageLimits, type RgbImage,
} from './lutra.js';
import { BITMAP_OPTIONS, bitmapToRgb } from './image-bitmap.js';
import type { FromWorker, LoadSource, ProjectorSource, ToWorker } from './protocol.js';

const port = self as unknown as { postMessage(m: FromWorker): void; onmessage: ((e: MessageEvent<ToWorker>) => void) | null };
let engine: Engine | undefined;
const running = new Map<number, AbortController>();

const sameOrigin = (u: string) => new URL(u, self.location.href).origin === self.location.origin;

/**
 * The files of a URL source through the OPFS cache: the one file, or every shard of a split GGUF
 * (an hf: reference's, a shard URL's siblings, or those a redirect to a shard's name points at, as
 * lutra serve's /model.gguf does for a split model).
 */
async function download(source: Extract<LoadSource, { url: string }>, cache: boolean): Promise<{ files: Blob[]; fromCache: boolean }> {
  const hub = source.hub ?? {};
  const headersFor = (u: string) => ({ ...(sameOrigin(u) ? source.headers : {}), ...tokenHeaders(u, hub) });
  let urls = source.url.startsWith('hf:') ? await hubModelUrls(source.url, hub) : shardUrls(source.url) ?? [source.url];
  const got = new Map<string, Blob>();
  let fromCache = true;
  const hubOrigin = new URL(hub.endpoint ?? HUB_ENDPOINT).origin;
  const fetchOne = async (u: string, i: number) => {
    const r = await fetchModelCached(u, {
      cache, headers: headersFor(u),
      onProgress: (p) => port.postMessage({ type: 'progress', ...p, phase: urls.length > 1 ? `${p.phase} ${i + 1}/${urls.length}` : p.phase }),
    }).catch((e: Error) => {
      if (new URL(u, self.location.href).origin === hubOrigin && /: HTTP 40[13]\b/.test(e.message)) throw new Error(`${e.message}: ${accessHint(hub.token)}`);
      throw e;
    });
    fromCache &&= r.fromCache;
    return r;
  };
  const first = await fetchOne(urls[0]!, 0);
  got.set(urls[0]!, first.file);
  const redirected = urls.length === 1 ? shardUrls(first.url) : undefined;
  if (redirected) {
    urls = redirected;
    got.clear();
    got.set(first.url, first.file);
  }
  for (let i = 0; i < urls.length; i++) if (!got.has(urls[i]!)) got.set(urls[i]!, (await fetchOne(urls[i]!, i)).file);
  return { files: urls.map((u) => got.get(u)!), fromCache };
}

/** The projector's bytes: a picked file, or a URL through the OPFS cache (the page's key to its own origin only). */
async function projectorBytes(src: ProjectorSource, cache: boolean): Promise<Uint8Array> {
  if ('file' in src) return new Uint8Array(await src.file.arrayBuffer());
  const r = await fetchModelCached(src.url, {
    cache, headers: sameOrigin(src.url) ? src.headers : {},
    onProgress: (p) => port.postMessage({ type: 'progress', ...p, phase: `projector: ${p.phase}` }),
  });
  return new Uint8Array(await r.file.arrayBuffer());
}

/**
 * Pictures decoded by the browser (the engine's ImageDecoder): the header is read and checked
 * against the limits first, so a 20000x20000 header is refused before a pixel is allocated.
 */
async function decodeInBrowser(bytes: Uint8Array, name: string, limits: ImageLimits): Promise<RgbImage> {
  const header = readImageHeader(bytes, name);
  checkImageSize(header, name, limits);
  const what = `${header.format.toUpperCase()} ${header.width}x${header.height}`;
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: `image/${header.format}` }), BITMAP_OPTIONS);
  } catch (e) {
    throw new FormatError(name, `${what} is truncated or corrupt: the browser could not decode it (${(e as Error).message})`);
  }
  try {
    if (bitmap.width !== header.width || bitmap.height !== header.height) throw new FormatError(name, `${what} decoded as ${bitmap.width}x${bitmap.height}`);
    return bitmapToRgb(bitmap);
  } finally {
    bitmap.close();
  }
}

async function load(m: Extract<ToWorker, { type: 'load' }>): Promise<void> {
  const t0 = performance.now();
  await engine?.dispose();
  engine = undefined;
  let files: Blob[];
  let fromCache = false;
  if ('file' in m.source) files = [m.source.file];
  else if ('files' in m.source) files = m.source.files;
  else ({ files, fromCache } = await download(m.source, m.cache));
  const mmproj = m.mmproj ? await projectorBytes(m.mmproj, m.cache) : undefined;
  engine = await createEngine({
    model: files.length === 1 ? files[0]! : files, ctx: m.ctx, name: m.name, backend: m.backend ?? 'auto', onProgress: (p) => port.postMessage({ type: 'progress', ...p }),
    ...(mmproj ? { mmproj, images: { decode: decodeInBrowser } } : {}),
  });
  const hp = engine.vision?.cache.base.hparams;
  port.postMessage({
    type: 'loaded',
    info: {
      id: engine.id, arch: engine.model.arch, kernels: engine.model.gpuForward ? 'webgpu' : engine.model.kernels.name, backendNote: engine.model.kernelNote, nCtx: engine.nCtx,
      chatTemplate: engine.templateSource !== 'fallback', fromCache, crossOriginIsolated: globalThis.crossOriginIsolated === true,
      loadMs: performance.now() - t0, files: files.length,
      vision: hp ? `${hp.projectorType}, ${hp.imageSize}-pixel slices` : undefined,
    },
  });
}

async function request(m: Extract<ToWorker, { type: 'request' }>): Promise<void> {
  const ac = new AbortController();
  running.set(m.id, ac);
  try {
    if (!engine) throw new Error('no model loaded');
    const body = { ...m.body, stream: true as const };
    const stream = m.kind === 'chat'
      ? await engine.chat.completions.create(body as never, { signal: ac.signal })
      : await engine.completions.create(body as never, { signal: ac.signal });
    for await (const chunk of stream as AsyncIterable<unknown>) port.postMessage({ type: 'chunk', id: m.id, chunk });
    port.postMessage({ type: 'done', id: m.id });
  } catch (e) {
    port.postMessage({ type: 'error', id: m.id, message: (e as Error).message });
  } finally {
    running.delete(m.id);
  }
}

port.onmessage = (e) => {
  const m = e.data;
  if (m.type === 'load') load(m).catch((err: Error) => port.postMessage({ type: 'load-error', message: err.message }));
  else if (m.type === 'request') void request(m);
  else if (m.type === 'abort') running.get(m.id)?.abort();
};
