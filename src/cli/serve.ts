// The `serve` command's flags. Kept apart from main.ts so that other lutra commands do not load
// the HTTP framework: the action imports it only when `serve` runs.

import { Command, Option } from 'commander';
import { UnsupportedError } from '../core/errors.js';
import { addKernelFlags, chatTemplateFlag, int, loadProgressBar, resolveModel, threadCount } from './common.js';
import { addCacheFlags, cacheSpec } from './cache-flags.js';
import { addSpeculativeFlags, engineSpeculativeFromFlags } from './speculative.js';

/**
 * The server module. fastify is an optional peer dependency (library users never install it), so
 * a package without it gets a one-line way out instead of a module-resolution stack.
 */
async function importServer(): Promise<typeof import('../server/serve.js')> {
  try {
    return await import('../server/serve.js');
  } catch (e) {
    const err = e as { code?: string; message?: string };
    if (err.code === 'ERR_MODULE_NOT_FOUND' && /['"]fastify['"]/.test(err.message ?? '')) {
      throw new UnsupportedError('lutra serve needs the HTTP framework fastify, an optional peer dependency that is not installed: run `npm install fastify@5` beside lutra');
    }
    throw e;
  }
}

const collect = (v: string, prev: string[]): string[] => [...prev, ...v.split(',').map((x) => x.trim()).filter(Boolean)];

export function registerServe(program: Command): void {
  const cmd = program.command('serve')
    .description('OpenAI-compatible HTTP server (/v1/chat/completions, /v1/completions, /v1/models, /health) and a chat page at /')
    .argument('[model]', 'GGUF file or Hugging Face folder')
    .option('--host <host>', 'address to bind (loopback unless told otherwise)', '127.0.0.1')
    .option('--port <n>', 'port (0: any free port)', int('--port', 0), 8080)
    .option('--api-key <key>', 'require Authorization: Bearer <key> on /v1 (default: $LUTRA_API_KEY, else none)')
    .option('--parallel <n>', 'sequences generated at once (each gets its own context)', int('--parallel', 1), 1)
    .option('-c, --ctx <n>', 'context size of each sequence in tokens', int('--ctx', 1))
    .option('--max-queue <n>', 'requests that may wait for a free sequence; beyond that 503 + Retry-After', int('--max-queue', 0), 16)
    .option('--body-limit <bytes>', 'largest request body (413 beyond it)', int('--body-limit', 1), 4 * 1024 * 1024)
    .option('--shutdown-timeout <s>', 'on SIGINT/SIGTERM, seconds to let running requests finish before cancelling them', int('--shutdown-timeout', 0), 10)
    .option('--name <id>', 'model id in /v1/models and responses (default: the file name)')
    .option('--cors <origin>', 'let pages from this origin call /v1 from a browser (repeat for more; * for any); default: none', collect, [])
    .option('--host-allow <name>', 'accept this name in the Host header besides loopback names and --host (repeat for more; * for any)', collect, [])
    .option('--no-model-download', 'do not serve the model file at /model.gguf (the page then cannot load the server\'s model in the browser)')
    .addOption(new Option('--cache-reuse <mode>', 'which requests may reuse a cached prompt prefix: client (same address, key and user field), shared (all: one trusted user), off').choices(['client', 'shared', 'off']).default('client'))
    .option('--chat-template <name|file>', 'chat template: a built-in (chatml, llama-3, qwen3, gemma, ...) or a Jinja file; default: the model\'s own, else chatml')
    .option('--mmproj <file>', 'a projector (mmproj) GGUF for the model: chats may then send image_url parts (data: URLs)')
    .option('--allow-image-urls', 'with --mmproj, also fetch http(s) image URLs (20 MiB, 10 s each); off by default: the server would fetch any URL a client names')
    .option('--context-shift', 'a chat that outgrows the context drops its oldest turns (the system message stays) instead of failing with context_length_exceeded')
    .option('--max-request-tokens <n>', 'most tokens one request may cost: prompts plus n x max_tokens (default: 16 contexts)', int('--max-request-tokens', 1))
    .option('--headers-timeout <s>', 'seconds a client has to send its request headers', int('--headers-timeout', 1), 10)
    .option('--request-timeout <s>', 'seconds a client has to send its whole request (headers and body)', int('--request-timeout', 1), 30)
    .option('-t, --threads <n>', 'kernel threads (default: the number of cores)', threadCount)
    .addOption(new Option('--backend <name>', 'kernel backend (webgpu: the forward on the GPU; auto takes it where a hardware adapter exists and the model fits)').choices(['auto', 'ref', 'wasm', 'wasm-relaxed', 'wasm-simd', 'wasm-plain', 'webgpu']).default('auto'));
  addCacheFlags(addSpeculativeFlags(addKernelFlags(cmd)))
    .action(async (model: string | undefined, o) => {
      if (o.chatTemplate !== undefined) o.chatTemplate = await chatTemplateFlag(o.chatTemplate);
      o.cacheType = cacheSpec(o);
      o.speculative = await engineSpeculativeFromFlags(o);
      const { serve } = await importServer();
      const bar = loadProgressBar(false);
      try {
        await serve(resolveModel(model), o, (p) => { bar.onProgress(p as never); if (p.phase === 'ready') bar.stop(); });
      } finally {
        bar.stop();
      }
    });
}
