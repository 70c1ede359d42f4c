// The HTTP layer of `lutra serve` (fastify): OpenAI's /v1 routes over an Engine, SSE streaming,
// the API key, OpenAI-shaped errors, /health, and the chat page with the cross-origin isolation
// headers that let the in-page engine use threads. Nothing here generates text: engine.ts does.
// A client that goes away aborts its request, which frees its slot (or its place in the queue).

import { createHash, timingSafeEqual } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServerResponse } from 'node:http';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { AbortError } from '../core/errors.js';
import type { Engine } from '../openai/engine.js';
import type { Stream } from '../openai/types.js';
import { errorBody, toHttpError } from './errors.js';

export interface ServerOptions {
  /** Requests to /v1 (and the model file) need `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Largest request body in bytes (default 4 MiB); larger ones get 413. */
  bodyLimit?: number;
  /** Where the built chat page lives (default: dist/src/web/static beside this file). */
  webRoot?: string;
}

export interface ServerState {
  shuttingDown: boolean;
}

const ISOLATION = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
  'cross-origin-resource-policy': 'same-origin',
};
const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-headers': 'authorization, content-type',
  'access-control-allow-methods': 'GET, POST, OPTIONS',
};
const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.png': 'image/png', '.svg': 'image/svg+xml', '.json': 'application/json', '.map': 'application/json', '.wasm': 'application/wasm',
};

export const DEFAULT_BODY_LIMIT = 4 * 1024 * 1024;

function defaultWebRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '../web/static');
}

/** The built page's files, read once (they are small); a name not in this map is a 404, so no path tricks. */
function loadWebFiles(root: string): Map<string, { body: Buffer; type: string }> {
  const files = new Map<string, { body: Buffer; type: string }>();
  if (!existsSync(root)) return files;
  for (const name of readdirSync(root)) {
    const p = join(root, name);
    if (statSync(p).isFile()) files.set(name, { body: readFileSync(p), type: MIME[extname(name)] ?? 'application/octet-stream' });
  }
  return files;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

function waitWritable(res: ServerResponse): Promise<void> {
  if (res.destroyed || res.writableEnded) return Promise.resolve();
  return new Promise((r) => {
    const done = () => { res.off('drain', done); res.off('close', done); r(); };
    res.on('drain', done);
    res.on('close', done);
  });
}

export function buildServer(engine: Engine, opts: ServerOptions = {}, state: ServerState = { shuttingDown: false }): FastifyInstance {
  const app = Fastify({ bodyLimit: opts.bodyLimit ?? DEFAULT_BODY_LIMIT, logger: false, forceCloseConnections: 'idle' });
  const webFiles = loadWebFiles(opts.webRoot ?? defaultWebRoot());
  const keyDigest = opts.apiKey ? digest(opts.apiKey) : undefined;
  const modelFile = /\.gguf$/i.test(engine.model.file) && existsSync(engine.model.file) ? engine.model.file : undefined;

  // curl -d sends form encoding by default; every body is read as JSON whatever its content type.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, body === '' ? undefined : JSON.parse(body as string));
    } catch (e) {
      done(Object.assign(new Error(`the request body is not valid JSON: ${(e as Error).message}`), { statusCode: 400 }), undefined);
    }
  });

  app.addHook('onSend', async (req, reply) => {
    reply.headers(ISOLATION);
    if (req.url.startsWith('/v1/')) reply.headers(CORS);
  });

  app.addHook('onRequest', async (req, reply) => {
    if (req.method === 'OPTIONS') return reply.code(204).headers(CORS).send();
    const guarded = req.url.startsWith('/v1/') || req.url === '/model.gguf';
    if (!keyDigest || !guarded) return;
    const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
    if (!m || !timingSafeEqual(digest(m[1]!.trim()), keyDigest)) {
      return reply.code(401).send(errorBody(m ? 'Incorrect API key provided.' : 'Missing API key: send the header Authorization: Bearer <key>.', 'invalid_request_error', null, 'invalid_api_key'));
    }
  });

  app.setErrorHandler((e, _req, reply) => {
    const h = toHttpError(e, state.shuttingDown);
    reply.code(h.status).headers(h.headers ?? {}).send(h.body);
  });
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send(errorBody(`no route ${req.method} ${req.url.split('?')[0]}`, 'invalid_request_error', null, 'not_found'));
  });

  app.get('/health', async (_req, reply) => {
    const s = engine.stats();
    const mem = process.memoryUsage();
    return reply.code(state.shuttingDown ? 503 : 200).send({
      status: state.shuttingDown ? 'shutting_down' : 'ok',
      model: engine.id,
      chat_template: !!engine.model.tokenizer.chatTemplate,
      slots_idle: s.slots - s.busy,
      slots_processing: s.busy,
      queued: s.queued,
      memory: { rss: mem.rss, heap_used: mem.heapUsed, array_buffers: mem.arrayBuffers },
    });
  });

  app.get('/v1/models', async () => engine.models.list());
  app.get<{ Params: { id: string } }>('/v1/models/:id', async (req, reply) => {
    if (req.params.id !== engine.id) return reply.code(404).send(errorBody(`the model ${req.params.id} does not exist; this server has ${engine.id}`, 'invalid_request_error', 'model', 'model_not_found'));
    return engine.modelObject();
  });

  const completion = (kind: 'chat' | 'text') => async (req: FastifyRequest, reply: FastifyReply) => {
    if (state.shuttingDown) throw new AbortError('shutting down');
    // The response's close before it has ended means the client went away: stop and free the slot.
    const ac = new AbortController();
    const onClose = () => { if (!reply.raw.writableEnded) ac.abort(new AbortError('client disconnected')); };
    reply.raw.on('close', onClose);
    try {
      const body = req.body as never;
      const result = kind === 'chat'
        ? await engine.chat.completions.create(body, { signal: ac.signal })
        : await engine.completions.create(body, { signal: ac.signal });
      if (Symbol.asyncIterator in result) return await sendEvents(reply, result as Stream<unknown>, ac.signal);
      return reply.send(result);
    } catch (e) {
      if (ac.signal.aborted && !state.shuttingDown) { reply.hijack(); reply.raw.destroy(); return; }
      throw e;
    } finally {
      reply.raw.off('close', onClose);
    }
  };
  app.post('/v1/chat/completions', completion('chat'));
  app.post('/v1/completions', completion('text'));

  /** SSE: the first chunk is awaited before the headers, so queue-full and early errors keep their status. */
  async function sendEvents(reply: FastifyReply, stream: Stream<unknown>, signal: AbortSignal): Promise<void> {
    const it = stream[Symbol.asyncIterator]();
    let next = await it.next();
    reply.hijack();
    const res = reply.raw;
    res.on('error', () => {});
    res.writeHead(200, { ...ISOLATION, ...CORS, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' });
    const write = async (s: string) => { if (!res.destroyed && !res.write(s)) await waitWritable(res); };
    try {
      for (; !next.done; next = await it.next()) {
        await write(`data: ${JSON.stringify(next.value)}\n\n`);
        if (signal.aborted) return;
      }
      await write('data: [DONE]\n\n');
    } catch (e) {
      if (!res.destroyed) await write(`data: ${JSON.stringify(toHttpError(e, state.shuttingDown).body)}\n\n`);
    } finally {
      await it.return?.();
      res.end();
    }
  }

  // The chat page and its scripts.
  const sendFile = (name: string) => async (_req: FastifyRequest, reply: FastifyReply) => {
    const f = webFiles.get(name);
    if (!f) return reply.code(404).send(errorBody(`${name} is not built (run npm run build)`, 'invalid_request_error', null, 'not_found'));
    return reply.header('content-type', f.type).header('cache-control', 'no-cache').send(f.body);
  };
  app.get('/', sendFile('index.html'));
  app.get<{ Params: { file: string } }>('/web/:file', async (req, reply) => sendFile(req.params.file)(req, reply));
  app.get('/model.gguf', async (_req, reply) => {
    if (!modelFile) return reply.code(404).send(errorBody('this server\'s model is not a single GGUF file', 'invalid_request_error', null, 'not_found'));
    return reply.header('content-type', 'application/octet-stream').header('content-length', statSync(modelFile).size).send(createReadStream(modelFile));
  });
  return app;
}
