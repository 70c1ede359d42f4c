// Model files cached in the Origin Private File System: the first load streams the download
// straight into OPFS (one copy on disk, none extra in memory) and later loads read it back as a
// File. Entries are keyed by the URL and what the server says the content is (size and ETag, or
// Last-Modified; the Hub's X-Linked-* for LFS files), asked with a HEAD request each load: another
// file behind the same URL is downloaded again, never mistaken for the cached one. Where OPFS is
// missing (old browsers, some private modes) the download is kept in memory.

export interface FetchProgress {
  phase: 'download' | 'cache';
  loaded: number;
  total: number;
}

export interface CachedModel {
  file: Blob;
  /** True when the bytes came from OPFS, with no download. */
  fromCache: boolean;
  /** Where the server's redirects led (the URL asked for when there were none). */
  url: string;
}

const DIR = 'lutra-models';

async function cacheDir(): Promise<FileSystemDirectoryHandle | undefined> {
  try {
    const root = await navigator.storage.getDirectory();
    return await root.getDirectoryHandle(DIR, { create: true });
  } catch {
    return undefined;
  }
}

function fnv1a(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

/** Every cached version of a URL starts with this: a hash of the whole URL. */
const urlPrefix = (url: string) => `${fnv1a(url)}-`;

/** A file name for one content of a URL: URL hash, content hash, last path segment (readable in devtools). */
function cacheName(url: string, content: string): string {
  const base = (new URL(url).pathname.split('/').pop() || 'model').replace(/[^\w.-]/g, '_').slice(0, 80);
  return `${urlPrefix(url)}${fnv1a(content)}-${base}`;
}

/** "GET <url>: <why>" for a request that got no answer (fetch's TypeError says only "Failed to fetch"). */
export function requestError(method: string, url: string, e: unknown): Error {
  if ((e as Error)?.name === 'AbortError') return e as Error;
  const cause = (e as { cause?: { code?: string; message?: string } })?.cause;
  const why = [cause?.code, cause?.message ?? (e as Error)?.message].filter(Boolean).join(' ');
  return new Error(`${method} ${url}: ${why || String(e)} (network error, or the server does not allow this origin: CORS)`);
}

/**
 * What the server says the file is, without its bytes: size and ETag (the Hub's X-Linked-Size /
 * X-Linked-Etag for LFS files), else Last-Modified. Undefined when it says neither (then nothing is cached).
 */
async function contentKey(url: string, opts: { signal?: AbortSignal; headers?: Record<string, string> }): Promise<{ key: string | undefined; size: number | undefined; url: string }> {
  let res: Response;
  try {
    res = await fetch(url, { method: 'HEAD', signal: opts.signal, headers: opts.headers });
  } catch (e) {
    throw requestError('HEAD', url, e);
  }
  if (!res.ok) throw new Error(`HEAD ${url}: HTTP ${res.status} ${res.statusText}`);
  const h = (name: string) => res.headers.get(name) ?? undefined;
  const sizeText = h('x-linked-size') ?? h('content-length');
  const tag = h('x-linked-etag') ?? h('etag') ?? h('last-modified');
  const size = sizeText !== undefined && /^\d+$/.test(sizeText) ? Number(sizeText) : undefined;
  return { key: tag === undefined ? undefined : `${size ?? '?'}|${tag}`, size, url: res.url || url };
}

export async function fetchModelCached(
  url: string,
  opts: { onProgress?: (p: FetchProgress) => void; signal?: AbortSignal; headers?: Record<string, string>; cache?: boolean } = {},
): Promise<CachedModel> {
  const abs = new URL(url, (globalThis as { location?: { href: string } }).location?.href).href;
  let dir = opts.cache === false ? undefined : await cacheDir();
  const content = dir ? await contentKey(abs, opts) : undefined;
  if (!content?.key) dir = undefined;
  const name = content?.key ? cacheName(abs, content.key) : '';
  if (dir) {
    try {
      const file = await (await dir.getFileHandle(name)).getFile();
      if (file.size > 0 && (content!.size === undefined || file.size === content!.size)) {
        opts.onProgress?.({ phase: 'cache', loaded: file.size, total: file.size });
        return { file, fromCache: true, url: content!.url };
      }
    } catch { /* not cached yet */ }
  }
  let res: Response;
  try {
    res = await fetch(abs, { signal: opts.signal, headers: opts.headers });
  } catch (e) {
    throw requestError('GET', abs, e);
  }
  if (!res.ok || !res.body) throw new Error(`GET ${abs}: HTTP ${res.status} ${res.statusText}`);
  const total = Number(res.headers.get('content-length') ?? 0);
  const reader = res.body.getReader();
  let loaded = 0;
  if (dir) {
    const handle = await dir.getFileHandle(name, { create: true });
    const w = await handle.createWritable();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        await w.write(value);
        loaded += value.byteLength;
        opts.onProgress?.({ phase: 'download', loaded, total: total || loaded });
      }
      if (content!.size !== undefined && loaded !== content!.size) throw new Error(`GET ${abs}: got ${loaded} bytes, the server announced ${content!.size}`);
      await w.close();
    } catch (e) {
      await w.abort().catch(() => {});
      await dir.removeEntry(name).catch(() => {});
      throw e;
    }
    await removeVersions(dir, abs, name);
    return { file: await handle.getFile(), fromCache: false, url: res.url || abs };
  }
  const parts: Uint8Array[] = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    loaded += value.byteLength;
    opts.onProgress?.({ phase: 'download', loaded, total: total || loaded });
  }
  return { file: new Blob(parts as BlobPart[]), fromCache: false, url: res.url || abs };
}

/** Remove the cached versions of `url` other than `keep`. */
async function removeVersions(dir: FileSystemDirectoryHandle, url: string, keep?: string): Promise<void> {
  const prefix = urlPrefix(url);
  const names: string[] = [];
  for await (const name of (dir as unknown as { keys(): AsyncIterable<string> }).keys()) if (name.startsWith(prefix) && name !== keep) names.push(name);
  for (const name of names) await dir.removeEntry(name).catch(() => {});
}

/** Remove every cached model (or those of `url`). */
export async function clearModelCache(url?: string): Promise<void> {
  const dir = await cacheDir();
  if (!dir) return;
  if (url) {
    await removeVersions(dir, new URL(url, (globalThis as { location?: { href: string } }).location?.href).href);
    return;
  }
  const root = await navigator.storage.getDirectory();
  await root.removeEntry(DIR, { recursive: true }).catch(() => {});
}
