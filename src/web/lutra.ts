// The browser entry of lutra: the whole engine API (loadModel, createEngine, ...) plus OPFS model
// caching, bundled by build.ts into one ES module. Loads from a URL, bytes or a File; paths are
// Node-only. It is what `import ... from 'lutra'` and `'lutra/web'` give a browser bundler (the
// package's `browser` export condition). Runs on the page's main thread or, better for a UI, in a
// worker (see chat-worker.ts).

// generate() yields to the event loop between tokens with setImmediate, which browsers lack; a
// MessageChannel gives the same "after pending I/O, without setTimeout's 4 ms clamp".
if (typeof (globalThis as { setImmediate?: unknown }).setImmediate !== 'function') {
  const channel = new MessageChannel();
  const queue: (() => void)[] = [];
  channel.port1.onmessage = () => queue.shift()?.();
  (globalThis as { setImmediate?: unknown }).setImmediate = (fn: () => void) => { queue.push(fn); channel.port2.postMessage(0); };
}

export * from '../index.js';
export { fetchModelCached, clearModelCache, type CachedModel, type FetchProgress } from './opfs-cache.js';
export { hubModelUrls, shardUrls, tokenHeaders, accessHint, HUB_ENDPOINT, type HubUrlOptions } from './hub-url.js';
// The chat page's worker protocol, for pages that drive dist/src/web/static/chat-worker.js
// (`lutra/web/static/chat-worker.js`) themselves.
export type { LoadSource, ToWorker, FromWorker, ModelInfo } from './protocol.js';
