// Builds the browser side with esbuild into dist/src/web/static/: lutra.js (the engine as one ESM
// bundle, for pages that import it), chat-worker.js (the chat page's engine worker), chat.js
// (the page), index.html. Worker scripts the engine itself starts with `new URL('./x.js',
// import.meta.url)` (the kernels' thread pool) are found in the sources and built beside lutra.js
// under the same name, so the bundle carries whatever backend createKernels picks. Node built-ins
// become stubs that throw if called: only the path-reading code uses them, never reached in a page.

import { build, type Plugin } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const SRC = join(ROOT, 'src/web');
const OUT = join(ROOT, 'dist/src/web/static');

const nodeStubs: Plugin = {
  name: 'node-stubs',
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (a) => ({ path: a.path, namespace: 'node-stub' }));
    b.onLoad({ filter: /.*/, namespace: 'node-stub' }, (a) => ({
      contents: `const fail = () => { throw new Error(${JSON.stringify(`${a.path} is not available in a browser`)}); };
module.exports = new Proxy({}, { get: (_, k) => k === '__esModule' ? false : k === 'default' ? module.exports : fail });`,
      loader: 'js',
    }));
  },
};

/** Worker scripts referenced as new URL('./name.js', import.meta.url) by bundled sources. */
function workerScripts(found: Set<string>): Plugin {
  return {
    name: 'worker-scripts',
    setup(b) {
      b.onLoad({ filter: /\/src\/.*\.ts$/ }, (a) => {
        const text = readFileSync(a.path, 'utf8');
        for (const m of text.matchAll(/new\s+URL\(\s*['"]\.\/([\w.-]+)\.js['"]\s*,\s*import\.meta\.url\s*\)/g)) {
          const ts = join(dirname(a.path), `${m[1]}.ts`);
          // A Node worker_threads script (the Node branch of the same code) has no place in a page.
          if (existsSync(ts) && !/from ['"]node:worker_threads['"]/.test(readFileSync(ts, 'utf8'))) found.add(ts);
        }
        return undefined;
      });
    },
  };
}

const common = {
  bundle: true, format: 'esm' as const, platform: 'browser' as const, target: ['es2022', 'chrome111', 'firefox111', 'safari16.4'],
  sourcemap: 'linked' as const, minify: true, legalComments: 'none' as const, logLevel: 'warning' as const,
  plugins: [nodeStubs],
};

export async function buildWeb(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  const workers = new Set<string>();
  await build({ ...common, entryPoints: { lutra: join(SRC, 'lutra.ts') }, outdir: OUT, plugins: [nodeStubs, workerScripts(workers)] });
  // The page and its worker import the engine from ./lutra.js at run time instead of carrying a copy.
  await build({ ...common, entryPoints: { 'chat-worker': join(SRC, 'chat-worker.ts'), chat: join(SRC, 'chat.ts') }, outdir: OUT, external: ['./lutra.js'] });
  for (const w of workers) {
    const name = w.split('/').pop()!.replace(/\.ts$/, '');
    if (['lutra', 'chat', 'chat-worker'].includes(name)) throw new Error(`${w}: a worker script named ${name}.js would overwrite the page's own`);
    await build({ ...common, entryPoints: { [name]: w }, outdir: OUT });
  }
  copyFileSync(join(SRC, 'index.html'), join(OUT, 'index.html'));
  process.stdout.write(`web: ${OUT} (lutra.js, chat-worker.js, chat.js${[...workers].map((w) => `, ${w.split('/').pop()!.replace(/\.ts$/, '.js')}`).join('')}, index.html)\n`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  buildWeb().catch((e) => { process.stderr.write(`web build failed: ${(e as Error).message}\n`); process.exit(1); });
}
