// `lutra serve MODEL`: load the engine, listen (loopback unless --host says otherwise), and shut
// down gracefully on SIGINT/SIGTERM: refuse new requests, let running ones finish for up to
// --shutdown-timeout seconds, cancel the rest, close, exit 0. A second signal cancels at once.

import { ArgumentError } from '../core/errors.js';
import type { BackendName, LutTables, MatmulKernels } from '../kernels/index.js';
import { createEngine, type EngineSpeculativeOptions } from '../openai/engine.js';
import type { CacheReuse } from '../openai/slots.js';
import { buildServer, DEFAULT_BODY_LIMIT, type ServerState } from './app.js';
import type { KVCacheSpec } from '../runtime/kv/index.js';
import { fallbackTemplateNote } from '../tokenizer/index.js';

export interface ServeFlags {
  host: string;
  /** KV cache settings of every slot (cli/cache-flags.ts). */
  cacheType?: KVCacheSpec;
  port: number;
  apiKey?: string;
  parallel: number;
  ctx?: number;
  maxQueue: number;
  bodyLimit: number;
  shutdownTimeout: number;
  threads?: number;
  backend?: BackendName;
  kernels?: MatmulKernels;
  lutTables?: LutTables;
  name?: string;
  cors?: string[];
  hostAllow?: string[];
  modelDownload?: boolean;
  cacheReuse?: CacheReuse;
  maxRequestTokens?: number;
  headersTimeout?: number;
  requestTimeout?: number;
  /** A built-in template's name or Jinja source (the CLI reads --chat-template FILE). */
  chatTemplate?: string;
  contextShift?: boolean;
  /** Speculative decoding for every request (the CLI's --draft, --draft-layers, --lookup, --fr-spec ...). */
  speculative?: EngineSpeculativeOptions;
  /** Projector GGUF: chats may carry image_url parts; http(s) image URLs only with allowImageUrls. */
  mmproj?: string;
  allowImageUrls?: boolean;
}

export const SERVE_DEFAULTS = { host: '127.0.0.1', port: 8080, parallel: 1, maxQueue: 16, bodyLimit: DEFAULT_BODY_LIMIT, shutdownTimeout: 10 };

export async function serve(modelPath: string, o: ServeFlags, onProgress?: (p: { phase: string; loaded: number; total: number }) => void): Promise<void> {
  const apiKey = o.apiKey ?? process.env.LUTRA_API_KEY;
  if (apiKey !== undefined && apiKey.trim() === '') throw new ArgumentError('--api-key is empty');
  if (o.requestTimeout !== undefined && o.headersTimeout !== undefined && o.requestTimeout < o.headersTimeout) {
    throw new ArgumentError(`--request-timeout (${o.requestTimeout} s) must be at least --headers-timeout (${o.headersTimeout} s)`);
  }
  const engine = await createEngine({
    model: modelPath, ctx: o.ctx, parallel: o.parallel, maxQueue: o.maxQueue, threads: o.threads, backend: o.backend, kernels: o.kernels, lutTables: o.lutTables, name: o.name, onProgress,
    cacheReuse: o.cacheReuse, maxRequestTokens: o.maxRequestTokens, chatTemplate: o.chatTemplate, contextShift: o.contextShift, speculative: o.speculative,
    ...(o.mmproj ? { mmproj: o.mmproj, images: { allowRemote: o.allowImageUrls ?? false } } : {}),
    ...(o.cacheType ? { cacheType: o.cacheType } : {}),
  });
  if (engine.templateSource === 'fallback') process.stderr.write(`lutra serve: ${fallbackTemplateNote(engine.model.file, engine.chatTemplate)}\n`);
  if (o.ctx !== undefined && o.ctx > engine.model.hparams.nCtxTrain) {
    process.stderr.write(`lutra serve: warning: --ctx ${o.ctx} is more than the model's training context (${engine.model.hparams.nCtxTrain} tokens); text past that is likely to degrade\n`);
  }
  const state: ServerState = { shuttingDown: false };
  const app = buildServer(engine, {
    apiKey, bodyLimit: o.bodyLimit, cors: o.cors, hostAllow: o.hostAllow, boundHost: o.host, modelDownload: o.modelDownload,
    headersTimeout: o.headersTimeout, requestTimeout: o.requestTimeout,
  }, state);
  let address: string;
  try {
    address = await app.listen({ host: o.host, port: o.port });
  } catch (e) {
    await engine.dispose();
    throw new ArgumentError(`cannot listen on ${o.host}:${o.port}: ${(e as Error).message}`);
  }
  if (!apiKey && !/^(127\.|localhost$|::1$|\[::1\]$)/.test(o.host)) {
    process.stderr.write(`lutra serve: warning: listening on ${o.host} without --api-key; anyone who can reach this address can use the model\n`);
  }
  const s = engine.stats();
  const sp = engine.speculative;
  const spec = !sp ? '' : `, speculative: ${sp.draft ? `draft ${sp.draft.file}` : sp.layers !== undefined ? `first ${sp.layers} layers` : 'prompt lookup'}${sp.frSpec ? `, FR-Spec ${sp.frSpecTokens ?? sp.frSpec.length}` : ''}`;
  process.stderr.write(
    `lutra serve: ${engine.id} (${engine.model.arch}, ${engine.model.kernels.name}), ${s.slots} slot${s.slots > 1 ? 's' : ''} of ${engine.nCtx} tokens, queue ${o.maxQueue}${apiKey ? ', API key required' : ''}${spec}\n` +
    `lutra serve: listening on ${address} (chat page at ${address}/)\n`,
  );

  await new Promise<void>((resolveDone) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        process.stderr.write(`lutra serve: ${signal} again, cancelling everything\n`);
        void engine.dispose();
        return;
      }
      stopping = true;
      state.shuttingDown = true;
      process.stderr.write(`lutra serve: ${signal}, finishing ${engine.inFlight} request(s) (at most ${o.shutdownTimeout} s)\n`);
      // Stop listening now; keep-alive connections close once their last response has gone out.
      const closed = app.close();
      void engine.drain(o.shutdownTimeout * 1000).then(async () => {
        app.server.closeIdleConnections();
        const force = setTimeout(() => app.server.closeAllConnections(), 1000);
        await closed;
        clearTimeout(force);
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        process.stderr.write('lutra serve: stopped\n');
        resolveDone();
      });
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
