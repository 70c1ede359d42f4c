// The HTTP layer of `lutra serve` (fastify): OpenAI's /v1 routes over an Engine, SSE streaming,
// the API key, OpenAI-shaped errors, /health, and the chat page with the cross-origin isolation
// headers that let the in-page engine use threads. Nothing here generates text: engine.ts does.
// A client that goes away aborts its request, which frees its slot (or its place in the queue).

import { createHash, timingSafeEqual } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { AbortError } from '../core/errors.js';
import { shardSuffix, splitInfo, splitShardNames } from '../formats/gguf-split.js';
import type { Engine } from '../openai/engine.js';
import type { Stream } from '../openai/types.js';
import { errorBody, toHttpError } from './errors.js';

export interface ServerOptions {
  /** Every route but the chat page and /health needs `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Largest request body in bytes (default 4 MiB); larger ones get 413. */
  bodyLimit?: number;
  /** Where the built chat page lives (default: dist/src/web/static beside this file). */
  webRoot?: string;
  /**
   * Origins whose pages may call /v1 from a browser (`--cors`); `*` for any. Default none: a page
   * on another site cannot drive a local server.
   */
  cors?: string[];
  /**
   * Host names accepted in the Host header besides the loopback names and the bound address
   * (`--host-allow`); `*` accepts any. A name outside them is refused, which stops DNS rebinding.
   */
  hostAllow?: string[];
  /** The address the server binds (for the Host check; default loopback). */
  boundHost?: string;
  /** Serve the model file at /model.gguf for the page's in-browser engine (default true; behind the key like /v1). */
  modelDownload?: boolean;
  /** Seconds a client has to send its request headers (default 10) and its whole request (default 30). */
  headersTimeout?: number;
  requestTimeout?: number;
}

export interface ServerState {
  shuttingDown: boolean;
}

/** Which requests a route serves without the key. Routes say it in their config; unknown ones need the key. */
type Access = 'public' | 'key';
declare module 'fastify' {
  interface FastifyContextConfig { access?: Access; cors?: boolean }
}

const ISOLATION = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
  'cross-origin-resource-policy': 'same-origin',
};
const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.png': 'image/png', '.svg': 'image/svg+xml', '.json': 'application/json', '.map': 'application/json', '.wasm': 'application/wasm',
};

export const DEFAULT_BODY_LIMIT = 4 * 1024 * 1024;
export const DEFAULT_HEADERS_TIMEOUT_S = 10;
export const DEFAULT_REQUEST_TIMEOUT_S = 30;

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

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '::1']);
const WILDCARD = new Set(['0.0.0.0', '::', '']);

/** The host name of a Host header: lower case, no port, no IPv6 brackets. */
export function hostName(header: string): string {
  const h = header.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']') >= 0 ? h.indexOf(']') : undefined);
  const colon = h.lastIndexOf(':');
  return colon >= 0 && h.indexOf(':') === colon ? h.slice(0, colon) : h;
}

/**
 * May a request carrying this Host header be served? Loopback names, the bound address, and the
 * --host-allow names; on a wildcard bind any IP literal too (an address cannot be rebound, a name
 * can: a page on evil.example that re-points its name at 127.0.0.1 sends `Host: evil.example`).
 */
export function hostAllowed(header: string | undefined, bound: string, allow: readonly string[]): boolean {
  if (allow.includes('*')) return true;
  if (header === undefined) return false;
  const name = hostName(header);
  const b = hostName(bound);
  if (LOOPBACK_NAMES.has(name) || name.endsWith('.localhost') || name === b || allow.some((a) => hostName(a) === name)) return true;
  return WILDCARD.has(b) && (isIP(name) !== 0);
}

export function buildServer(engine: Engine, opts: ServerOptions = {}, state: ServerState = { shuttingDown: false }): FastifyInstance {
  const headersTimeout = (opts.headersTimeout ?? DEFAULT_HEADERS_TIMEOUT_S) * 1000;
  const requestTimeout = (opts.requestTimeout ?? DEFAULT_REQUEST_TIMEOUT_S) * 1000;
  const app = Fastify({
    bodyLimit: opts.bodyLimit ?? DEFAULT_BODY_LIMIT,
    logger: false,
    forceCloseConnections: 'idle',
    // Node only checks these timeouts every connectionsCheckingInterval (30 s by default): a slow
    // body would be held for up to a minute longer than asked.
    serverFactory: (handler) => createServer({ headersTimeout, requestTimeout, connectionsCheckingInterval: 1000 }, handler),
    // Errors the router raises before any route runs, OpenAI-shaped like the rest.
    // Malformed requests and timeouts that never reach a route (Node's HTTP parser): still OpenAI-shaped.
    clientErrorHandler: (e, socket) => {
      if (!socket.writable) { socket.destroy(); return; }
      const timeout = (e as { code?: string }).code === 'ERR_HTTP_REQUEST_TIMEOUT';
      const body = JSON.stringify(timeout
        ? errorBody('the request was not received in time', 'invalid_request_error', null, 'request_timeout')
        : errorBody(`malformed HTTP request: ${e.message}`, 'invalid_request_error', null, 'bad_request'));
      socket.end(`HTTP/1.1 ${timeout ? '408 Request Timeout' : '400 Bad Request'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    },
    frameworkErrors: (e, _req, reply) => { const h = toHttpError(e); void (reply as FastifyReply).code(h.status).send(h.body); },
  });
  app.server.headersTimeout = headersTimeout;
  app.server.requestTimeout = requestTimeout;
  const webFiles = loadWebFiles(opts.webRoot ?? defaultWebRoot());
  const keyDigest = opts.apiKey ? digest(opts.apiKey) : undefined;
  const modelFile = (opts.modelDownload ?? true) && /\.gguf$/i.test(engine.model.file) && existsSync(engine.model.file) ? engine.model.file : undefined;
  const corsOrigins = opts.cors ?? [];
  const hostAllow = opts.hostAllow ?? [];
  const bound = opts.boundHost ?? '127.0.0.1';

  /** The CORS headers this request's Origin earns on a /v1 route: none unless --cors names it. */
  const corsHeaders = (req: FastifyRequest): Record<string, string> => {
    const origin = req.headers.origin;
    if (!req.routeOptions.config.cors || !origin || corsOrigins.length === 0) return {};
    if (!corsOrigins.includes('*') && !corsOrigins.includes(origin)) return {};
    return { 'access-control-allow-origin': corsOrigins.includes('*') ? '*' : origin, vary: 'Origin' };
  };

  // JSON only: a form or text/plain POST is what a foreign page can send without a preflight.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, body === '' ? undefined : JSON.parse(body as string));
    } catch (e) {
      done(Object.assign(new Error(`the request body is not valid JSON: ${(e as Error).message}`), { statusCode: 400, code: 'FST_ERR_CTP_INVALID_JSON_BODY' }), undefined);
    }
  });

  app.addHook('onSend', async (req, reply) => {
    reply.headers(ISOLATION);
    reply.headers(corsHeaders(req));
  });

  // One decision for auth, routing and files: the route the router matched (after its own
  // percent-decoding and query stripping), never a second reading of the raw URL.
  app.addHook('onRequest', async (req, reply) => {
    const target = req.raw.url ?? '';
    if (!target.startsWith('/')) {
      return reply.code(400).send(errorBody('the request target must be a path (origin-form); absolute URLs are not accepted', 'invalid_request_error', null, 'bad_request_target'));
    }
    if (!hostAllowed(req.headers.host, bound, hostAllow)) {
      return reply.code(403).send(errorBody(`the Host header ${JSON.stringify(req.headers.host ?? '')} is not one this server answers to; start it with --host-allow to add a name`, 'invalid_request_error', null, 'host_not_allowed'));
    }
    if (!keyDigest || req.routeOptions.config.access === 'public') return;
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
    reply.code(404).send(errorBody(`no route ${req.method} ${(req.raw.url ?? '').split('?')[0]}`, 'invalid_request_error', null, 'not_found'));
  });

  const PUBLIC = { config: { access: 'public' as Access } };
  const V1 = { config: { access: 'key' as Access, cors: true } };
  /** Routes and their methods: any other method on these paths is a 405 naming the allowed ones. */
  const methods = new Map<string, string[]>();
  const route = (method: 'GET' | 'POST', url: string, config: { config: { access: Access; cors?: boolean } }, handler: (req: FastifyRequest, reply: FastifyReply) => unknown) => {
    app.route({ method, url, ...config, handler: handler as never });
    methods.set(url, [...(methods.get(url) ?? []), method]);
  };

  route('GET', '/health', PUBLIC, async (_req, reply) => {
    const s = engine.stats();
    const mem = process.memoryUsage();
    return reply.code(state.shuttingDown ? 503 : 200).send({
      status: state.shuttingDown ? 'shutting_down' : 'ok',
      model: engine.id,
      chat_template: engine.templateSource !== 'fallback',
      vision: engine.vision !== undefined,
      slots_idle: s.slots - s.busy,
      slots_processing: s.busy,
      queued: s.queued,
      memory: { rss: mem.rss, heap_used: mem.heapUsed, array_buffers: mem.arrayBuffers },
    });
  });

  route('GET', '/v1/models', V1, async () => engine.models.list());
  route('GET', '/v1/models/:id', V1, async (req, reply) => {
    const id = (req.params as { id: string }).id;
    if (id !== engine.id) return reply.code(404).send(errorBody(`the model ${id} does not exist; this server has ${engine.id}`, 'invalid_request_error', 'model', 'model_not_found'));
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
      const client = clientId(req);
      const result = kind === 'chat'
        ? await engine.chat.completions.create(body, { signal: ac.signal, client })
        : await engine.completions.create(body, { signal: ac.signal, client });
      if (Symbol.asyncIterator in result) return await sendEvents(req, reply, result as Stream<unknown>, ac.signal);
      return reply.send(result);
    } catch (e) {
      if (ac.signal.aborted && !state.shuttingDown) { reply.hijack(); reply.raw.destroy(); return; }
      throw e;
    } finally {
      reply.raw.off('close', onClose);
    }
  };
  route('POST', '/v1/chat/completions', V1, completion('chat'));
  route('POST', '/v1/completions', V1, completion('text'));
  route('POST', '/v1/embeddings', V1, async (req, reply) => {
    if (state.shuttingDown) throw new AbortError('shutting down');
    const ac = new AbortController();
    const onClose = () => { if (!reply.raw.writableEnded) ac.abort(new AbortError('client disconnected')); };
    reply.raw.on('close', onClose);
    try {
      return reply.send(await engine.embeddings.create(req.body as never, { signal: ac.signal, client: clientId(req) }));
    } finally {
      reply.raw.off('close', onClose);
    }
  });

  /**
   * Whose cached prompts a request may reuse (the engine's cacheReuse 'client'): the peer address,
   * the key it presented and OpenAI's `user` field, hashed. Two users behind one address share it.
   */
  function clientId(req: FastifyRequest): string {
    const user = (req.body as { user?: unknown } | undefined)?.user;
    return digest(`${req.socket.remoteAddress ?? ''}\n${req.headers.authorization ?? ''}\n${typeof user === 'string' ? user : ''}`).toString('base64');
  }

  /** SSE: the first chunk is awaited before the headers, so queue-full and early errors keep their status. */
  async function sendEvents(req: FastifyRequest, reply: FastifyReply, stream: Stream<unknown>, signal: AbortSignal): Promise<void> {
    const it = stream[Symbol.asyncIterator]();
    let next = await it.next();
    reply.hijack();
    const res = reply.raw;
    res.on('error', () => {});
    res.writeHead(200, { ...ISOLATION, ...corsHeaders(req), 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' });
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
  route('GET', '/', PUBLIC, sendFile('index.html'));
  route('GET', '/web/:file', PUBLIC, async (req, reply) => sendFile((req.params as { file: string }).file)(req, reply));
  const sendModel = (file: string) => async (_req: FastifyRequest, reply: FastifyReply) => {
    // Size and mtime as the ETag (as static servers make it): the page's OPFS cache keys on it, so
    // another model served at this URL is downloaded again, never run under the old one's bytes.
    const st = statSync(file);
    reply.header('content-type', 'application/octet-stream').header('content-length', st.size)
      .header('etag', `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`).header('last-modified', st.mtime.toUTCString());
    return reply.send(createReadStream(file));
  };
  // A split GGUF is served shard by shard under llama-gguf-split names, /model-00001-of-0000N.gguf
  // ..., and /model.gguf redirects to the first: a loader finds the other shards from that name.
  const split = modelFile ? splitInfo(engine.model.source.metadata, modelFile) : undefined;
  route('GET', '/model.gguf', { config: { access: 'key' } }, async (req, reply) => {
    if (!modelFile) return reply.code(404).send(errorBody('this server\'s model is not a GGUF file', 'invalid_request_error', null, 'not_found'));
    if (split) return reply.redirect(`/model${shardSuffix(0, split.count)}`, 302);
    return sendModel(modelFile)(req, reply);
  });
  if (split) {
    splitShardNames(modelFile!, split).forEach((file, i) => route('GET', `/model${shardSuffix(i, split.count)}`, { config: { access: 'key' } }, sendModel(file)));
  }
  // The projector beside it (lutra serve --mmproj), so the page's own engine can take pictures too.
  const mmprojFile = modelFile && engine.vision && existsSync(engine.vision.file) ? engine.vision.file : undefined;
  if (mmprojFile) route('GET', '/mmproj.gguf', { config: { access: 'key' } }, sendModel(mmprojFile));

  // Browsers ask before a cross-origin POST with a JSON body or a key; only --cors origins get a yes.
  app.route({
    method: 'OPTIONS', url: '/v1/*', ...V1, config: { access: 'public', cors: true },
    handler: async (req, reply) => {
      const h = corsHeaders(req);
      if (h['access-control-allow-origin']) {
        reply.headers({ 'access-control-allow-headers': 'authorization, content-type', 'access-control-allow-methods': 'GET, POST, OPTIONS', 'access-control-max-age': '600' });
      }
      return reply.code(204).header('allow', 'GET, POST, OPTIONS').send();
    },
  });
  // A known path with another method is a 405 that says which methods it takes.
  for (const [url, ms] of methods) {
    const other = ['DELETE', 'PATCH', 'PUT', ...(ms.includes('GET') ? [] : ['GET']), ...(ms.includes('POST') ? [] : ['POST'])] as const;
    app.route({
      method: [...other], url, config: { access: 'public' },
      handler: async (req, reply) => reply.code(405).header('allow', ms.join(', ')).send(errorBody(`${req.method} is not allowed on ${url}; use ${ms.join(' or ')}`, 'invalid_request_error', null, 'method_not_allowed')),
    });
  }
  return app;
}
