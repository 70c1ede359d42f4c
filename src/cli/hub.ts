// `lutra pull`, `lutra ls`, `lutra rm`, and the hook that lets every other command take an
// `hf:OWNER/REPO[:QUANT|/FILE.gguf]` wherever it takes a model path: before a command's action
// runs, each such argument is fetched (or found in the cache) and replaced by its local path,
// with download progress on stderr. The hub module is imported only when a reference is seen.

import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import type { HubProgress } from '../hub/index.js';
import { int } from './common.js';

const HUB_COMMANDS = new Set(['pull', 'ls', 'rm']);
/** Redraws of the progress line per second at most. */
const REDRAW_MS = 100;

export function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return `${i === 0 ? n : n.toFixed(n < 10 ? 2 : 1)} ${units[i]}`;
}

function formatDuration(s: number): string {
  if (!Number.isFinite(s)) return '--:--';
  s = Math.round(s);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  return `${h ? `${h}:${String(m).padStart(2, '0')}` : m}:${String(sec).padStart(2, '0')}`;
}

/**
 * Download progress on stderr: on a terminal one line per file redrawn with bytes, rate and ETA;
 * otherwise (logs, CI) one line per file when it is done.
 */
export function stderrProgress(stream: NodeJS.WriteStream = process.stderr): (p: HubProgress) => void {
  const tty = stream.isTTY === true;
  let t0 = 0, from = 0, last = 0;
  return (p) => {
    if (p.type === 'start') {
      t0 = performance.now(); from = p.resumedFrom; last = 0;
      if (!tty && p.resumedFrom > 0) stream.write(`lutra: ${p.file}: resuming at ${formatBytes(p.resumedFrom)} of ${formatBytes(p.total)}\n`);
    } else if (p.type === 'progress' && tty) {
      const now = performance.now();
      if (now - last < REDRAW_MS && p.loaded < p.total) return;
      last = now;
      const rate = (p.loaded - from) / Math.max(1e-3, (now - t0) / 1000);
      const pct = p.total ? ((p.loaded / p.total) * 100).toFixed(0) : '100';
      stream.write(`\r\x1b[K${p.file}  ${pct}%  ${formatBytes(p.loaded)} / ${formatBytes(p.total)}  ${formatBytes(rate)}/s  ETA ${formatDuration((p.total - p.loaded) / rate)}`);
    } else if (p.type === 'done') {
      const what = p.cached
        ? `${formatBytes(p.total)}, in the cache`
        : `${formatBytes(p.downloaded)} in ${p.seconds.toFixed(1)} s (${formatBytes(p.downloaded / Math.max(1e-3, p.seconds))}/s)`;
      stream.write(`${tty ? '\r\x1b[K' : ''}lutra: ${p.file}: ${what}\n`);
    }
  };
}

export function registerHub(program: Command): void {
  program.command('pull')
    .description('download a model from the Hugging Face Hub into its cache (HF_HUB_CACHE) and print its local path')
    .argument('<ref>', 'hf:OWNER/REPO[@REVISION][:QUANT | /FILE.gguf] (QUANT default: Q4_K_M, else the first GGUF; a repo without GGUFs gives its safetensors folder)')
    .option('--retries <n>', 'tries again this many times after a lost connection, resuming where it stopped', int('--retries', 0), 2)
    .action(async (ref: string, o: { retries: number }) => {
      const { pull } = await import('../hub/index.js');
      const ac = new AbortController();
      const onInt = () => ac.abort('interrupted');
      process.once('SIGINT', onInt);
      try {
        const r = await pull(ref, { onProgress: stderrProgress(), retries: o.retries, signal: ac.signal });
        process.stderr.write(`lutra: ${r.ref}: ${r.revision === r.commit ? '' : `${r.revision} = `}${r.commit}\n`);
        process.stdout.write(`${r.path}\n`);
      } finally {
        process.off('SIGINT', onInt);
      }
    });

  program.command('ls')
    .description('list the models in the Hugging Face cache: repo, revision, files and sizes')
    .option('--json', 'machine-readable output')
    .action(async (o: { json?: boolean }) => {
      const { listCache, hubCacheDir } = await import('../hub/index.js');
      const repos = listCache();
      if (o.json) {
        process.stdout.write(JSON.stringify(repos, null, 1) + '\n');
        return;
      }
      if (repos.length === 0) {
        process.stdout.write(`no models in ${hubCacheDir()}\n`);
        return;
      }
      const lines: string[] = [];
      for (const r of repos) {
        lines.push(`hf:${r.repo}  ${formatBytes(r.bytes)}`);
        for (const s of r.snapshots) {
          lines.push(`  ${s.refs.length ? s.refs.join(', ') : '(no ref)'}  ${s.commit.slice(0, 12)}  ${s.files.length} file${s.files.length === 1 ? '' : 's'}`);
          for (const f of s.files) lines.push(`    ${f.path}  ${formatBytes(f.size)}`);
        }
      }
      process.stdout.write(lines.join('\n') + '\n');
    });

  program.command('rm')
    .description('remove a repo from the Hugging Face cache (all its snapshots and files)')
    .argument('<ref>', 'hf:OWNER/REPO')
    .action(async (ref: string) => {
      const { removeCached } = await import('../hub/index.js');
      const r = await removeCached(ref);
      process.stdout.write(`removed hf:${r.repo} (${formatBytes(r.bytes)}, ${r.dir})\n`);
    });

  // Every other command: an `hf:` argument becomes the local path it names (a file literally
  // called `hf:…` in the working folder is left alone).
  program.hook('preAction', async (_program, action) => {
    if (HUB_COMMANDS.has(action.name())) return;
    const args = action.processedArgs as unknown[];
    for (let i = 0; i < args.length; i++) {
      const a = args[i];
      if (typeof a !== 'string' || !a.startsWith('hf:') || existsSync(a)) continue;
      const { resolveHubReference } = await import('../hub/index.js');
      args[i] = await resolveHubReference(a, { onProgress: stderrProgress() });
    }
  });
}
