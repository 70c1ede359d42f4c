// The Hugging Face Hub cache layout, shared with huggingface_hub, transformers and llama.cpp's
// newer builds, so files another tool downloaded are found here and the other way round:
//   <cache>/models--OWNER--REPO/blobs/<etag>                 file contents, named by the Hub's etag
//   <cache>/models--OWNER--REPO/snapshots/<commit>/<path>   relative symlinks into blobs/
//   <cache>/models--OWNER--REPO/refs/<revision>              the commit hash a branch or tag pointed at
// Only paths and small reads/writes here; downloading is download.ts.

import { existsSync, readdirSync, readFileSync, statSync, lstatSync, type Stats } from 'node:fs';
import { copyFile, mkdir, readlink, rm, symlink, unlink, writeFile, rename } from 'node:fs/promises';
import os from 'node:os';
import { dirname, join, relative } from 'node:path';
import { HubError } from './errors.js';

/**
 * Every non-directory below `root` in sorted order, as a path relative to it with '/' separators;
 * entries that vanish or cannot be stat'ed (dangling links) are skipped, an unreadable folder too.
 */
function walkTree(root: string, stat: (p: string) => Stats, visit: (path: string, full: string, st: Stats) => void): void {
  const walk = (dir: string, prefix: string) => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names.sort()) {
      const full = join(dir, name);
      let st: Stats;
      try {
        st = stat(full);
      } catch {
        continue;
      }
      if (st.isDirectory()) walk(full, `${prefix}${name}/`);
      else visit(`${prefix}${name}`, full, st);
    }
  };
  walk(root, '');
}

const COMMIT = /^[0-9a-f]{40}$/;
/** Blob names: the Hub's etags (hex digests); never a path, never dots. */
const ETAG = /^[0-9a-z_-]{1,128}$/;

/** A repo file path that stays inside a snapshot folder (a listing from a hostile server may say `../x`). */
export function isSafeRepoPath(p: string): boolean {
  return p.length > 0 && p.length <= 1024 && !p.startsWith('/') && p.split('/').every((s) => s !== '' && s !== '.' && s !== '..' && !/[\\\0]/.test(s));
}

/** HF_HUB_CACHE, else HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub (huggingface_hub's order). */
export function hubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  if (env.HUGGINGFACE_HUB_CACHE) return env.HUGGINGFACE_HUB_CACHE;
  return join(hfHome(env), 'hub');
}

export function hfHome(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HF_HOME) return env.HF_HOME;
  return join(env.XDG_CACHE_HOME || join(os.homedir(), '.cache'), 'huggingface');
}

export function repoFolderName(repo: string): string {
  return `models--${repo.replace('/', '--')}`;
}

export function repoFromFolderName(name: string): string | undefined {
  const m = /^models--([^-].*?)--(.+)$/.exec(name);
  return m ? `${m[1]}/${m[2]}` : undefined;
}

export class RepoCache {
  readonly dir: string;
  constructor(readonly cacheDir: string, readonly repo: string) {
    this.dir = join(cacheDir, repoFolderName(repo));
  }

  blobPath(etag: string): string {
    if (!ETAG.test(etag)) throw new HubError('E_HUB_CACHE', `${this.repo}: ${JSON.stringify(etag)} cannot name a blob`);
    return join(this.dir, 'blobs', etag);
  }

  snapshotDir(commit: string): string {
    return join(this.dir, 'snapshots', commit);
  }

  /** The commit a revision resolves to in the cache: refs/<revision>, or the revision itself when it is a commit with a snapshot. */
  commitOf(revision: string): string | undefined {
    if (COMMIT.test(revision) && existsSync(this.snapshotDir(revision))) return revision;
    try {
      const c = readFileSync(join(this.dir, 'refs', revision), 'utf8').trim();
      return COMMIT.test(c) ? c : undefined;
    } catch {
      return undefined;
    }
  }

  async writeRef(revision: string, commit: string): Promise<void> {
    if (revision === commit) return;
    const file = join(this.dir, 'refs', revision);
    await mkdir(dirname(file), { recursive: true });
    // Written whole then renamed: a reader never sees half a hash.
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, commit);
    await rename(tmp, file);
  }

  /** Points snapshots/<commit>/<path> at blobs/<etag> with a relative symlink (a copy where links are not allowed). */
  async link(commit: string, path: string, etag: string): Promise<string> {
    if (!COMMIT.test(commit) || !isSafeRepoPath(path)) throw new HubError('E_HUB_CACHE', `${this.repo}: ${JSON.stringify(path)} at ${JSON.stringify(commit)} is not a file path inside a snapshot`);
    const target = join(this.snapshotDir(commit), path);
    const blob = this.blobPath(etag);
    await mkdir(dirname(target), { recursive: true });
    const rel = relative(dirname(target), blob);
    try {
      if ((await readlink(target)) === rel) return target;
    } catch { /* absent, or not a link */ }
    await rm(target, { force: true });
    try {
      await symlink(rel, target);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EACCES') throw cacheError(target, e);
      await copyFile(blob, target);
    }
    return target;
  }

  /** Files of a snapshot whose contents exist (a link into a blob that is gone does not count), as repo paths with sizes. */
  snapshotFiles(commit: string): Map<string, number> {
    const out = new Map<string, number>();
    walkTree(this.snapshotDir(commit), statSync, (path, _full, st) => { if (st.isFile()) out.set(path, st.size); });
    return out;
  }

  refs(): Map<string, string> {
    const out = new Map<string, string>();
    walkTree(join(this.dir, 'refs'), lstatSync, (path, full) => {
      if (path.endsWith('.tmp')) return;
      const c = readFileSync(full, 'utf8').trim();
      if (COMMIT.test(c)) out.set(path, c);
    });
    return out;
  }

  snapshots(): string[] {
    try {
      return readdirSync(join(this.dir, 'snapshots')).filter((c) => COMMIT.test(c)).sort();
    } catch {
      return [];
    }
  }

  /** Bytes held by blobs/ (each blob once, however many snapshots link to it). */
  blobBytes(): number {
    let n = 0;
    try {
      for (const b of readdirSync(join(this.dir, 'blobs'))) n += statSync(join(this.dir, 'blobs', b)).size;
    } catch { /* no blobs yet */ }
    return n;
  }

  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
    await rm(join(this.cacheDir, '.locks', repoFolderName(this.repo)), { recursive: true, force: true });
  }
}

/** The repos in a cache folder, by `owner/name`. */
export function cachedRepos(cacheDir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(cacheDir);
  } catch {
    return [];
  }
  return names.map(repoFromFolderName).filter((r): r is string => r !== undefined).sort();
}

export function cacheError(path: string, e: unknown): HubError {
  return new HubError('E_HUB_CACHE', `${path}: ${(e as Error).message}`, { cause: e });
}

/**
 * A download's lock: `<cache>/.locks/models--OWNER--REPO/<etag>.lock` holding the downloader's pid,
 * so two lutra processes do not append to one .incomplete file. A lock whose process is gone is taken over.
 */
export async function acquireLock(cacheDir: string, repo: string, etag: string, file: string): Promise<() => Promise<void>> {
  const lock = join(cacheDir, '.locks', repoFolderName(repo), `${etag}.lock`);
  await mkdir(dirname(lock), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(lock, String(process.pid), { flag: 'wx' });
      return () => unlink(lock).catch(() => {});
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw cacheError(lock, e);
    }
    const pid = Number(readFileSync(lock, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
      throw new HubError('E_HUB_CACHE', `${file}: process ${pid} is downloading it (lock ${lock}); wait for it, or delete the lock if that process is not lutra`);
    }
    await unlink(lock).catch(() => {});
  }
  throw new HubError('E_HUB_CACHE', `${lock}: could not take the download lock`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
