// The chat page's engine, in a module worker so generation never blocks the page. Loads a model
// (URL through the OPFS cache, or a local File), then serves OpenAI-shaped requests streamed back
// as chunk messages. It imports the engine from ./lutra.js, the same bundle a web page would use.

import { createEngine, fetchModelCached, hubModelUrl, type Engine } from './lutra.js';
import type { FromWorker, ToWorker } from './protocol.js';

const port = self as unknown as { postMessage(m: FromWorker): void; onmessage: ((e: MessageEvent<ToWorker>) => void) | null };
let engine: Engine | undefined;
const running = new Map<number, AbortController>();

async function load(m: Extract<ToWorker, { type: 'load' }>): Promise<void> {
  const t0 = performance.now();
  await engine?.dispose();
  engine = undefined;
  let input: Blob;
  let fromCache = false;
  if ('file' in m.source) {
    input = m.source.file;
  } else {
    // hf: references resolve to the Hub's download URL of the one GGUF file they mean.
    const url = m.source.url.startsWith('hf:') ? await hubModelUrl(m.source.url) : m.source.url;
    const got = await fetchModelCached(url, { cache: m.cache, headers: m.source.headers, onProgress: (p) => port.postMessage({ type: 'progress', ...p }) });
    input = got.file;
    fromCache = got.fromCache;
  }
  engine = await createEngine({ model: input, ctx: m.ctx, name: m.name, onProgress: (p) => port.postMessage({ type: 'progress', ...p }) });
  port.postMessage({
    type: 'loaded',
    info: {
      id: engine.id, arch: engine.model.arch, kernels: engine.model.kernels.name, nCtx: engine.nCtx,
      chatTemplate: engine.templateSource !== 'fallback', fromCache, crossOriginIsolated: globalThis.crossOriginIsolated === true,
      loadMs: performance.now() - t0,
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
