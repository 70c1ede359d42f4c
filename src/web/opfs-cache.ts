// Model files cached in the Origin Private File System: the first load streams the download
// straight into OPFS (one copy on disk, none extra in memory) and later loads read it back as a
// File. Where OPFS is missing (old browsers, some private modes) the download is kept in memory.

export interface FetchProgress {
  phase: 'download' | 'cache';
  loaded: number;
  total: number;
}

export interface CachedModel {
  file: Blob;
  /** True when the bytes came from OPFS, with no download. */
  fromCache: boolean;
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

/** A file name for a URL: its last path segment (readable in devtools) plus a hash of the whole URL. */
async function cacheName(url: string): Promise<string> {
  let h = 0x811c9dc5;
  for (let i = 0; i < url.length; i++) h = Math.imul(h ^ url.charCodeAt(i), 0x01000193) >>> 0;
  const base = (new URL(url).pathname.split('/').pop() || 'model').replace(/[^\w.-]/g, '_').slice(0, 80);
  return `${h.toString(16).padStart(8, '0')}-${base}`;
}

export async function fetchModelCached(
  url: string,
  opts: { onProgress?: (p: FetchProgress) => void; signal?: AbortSignal; headers?: Record<string, string>; cache?: boolean } = {},
): Promise<CachedModel> {
  const abs = new URL(url, (globalThis as { location?: { href: string } }).location?.href).href;
  const dir = opts.cache === false ? undefined : await cacheDir();
  const name = await cacheName(abs);
  if (dir) {
    try {
      const file = await (await dir.getFileHandle(name)).getFile();
      if (file.size > 0) {
        opts.onProgress?.({ phase: 'cache', loaded: file.size, total: file.size });
        return { file, fromCache: true };
      }
    } catch { /* not cached yet */ }
  }
  const res = await fetch(abs, { signal: opts.signal, headers: opts.headers });
  if (!res.ok || !res.body) throw new Error(`${abs}: HTTP ${res.status} ${res.statusText}`);
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
      await w.close();
    } catch (e) {
      await w.abort().catch(() => {});
      await dir.removeEntry(name).catch(() => {});
      throw e;
    }
    return { file: await handle.getFile(), fromCache: false };
  }
  const parts: Uint8Array[] = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    loaded += value.byteLength;
    opts.onProgress?.({ phase: 'download', loaded, total: total || loaded });
  }
  return { file: new Blob(parts as BlobPart[]), fromCache: false };
}

/** Remove every cached model (or the one for `url`). */
export async function clearModelCache(url?: string): Promise<void> {
  const dir = await cacheDir();
  if (!dir) return;
  if (url) {
    const abs = new URL(url, (globalThis as { location?: { href: string } }).location?.href).href;
    await dir.removeEntry(await cacheName(abs)).catch(() => {});
    return;
  }
  const root = await navigator.storage.getDirectory();
  await root.removeEntry(DIR, { recursive: true }).catch(() => {});
}
