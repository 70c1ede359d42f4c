// Messages between the chat page (chat.ts) and its engine worker (chat-worker.ts).

/**
 * A model to load: a URL or hf: reference (`headers` go to URLs of the page's own origin only, the
 * Hub token to the Hub endpoint's origin only), a local file, or the shards of a split GGUF.
 */
export type LoadSource =
  | { url: string; headers?: Record<string, string>; hub?: { endpoint?: string; token?: string } }
  | { file: File }
  | { files: File[] };

export type ToWorker =
  | { type: 'load'; source: LoadSource; cache: boolean; ctx?: number; name?: string }
  | { type: 'request'; id: number; kind: 'chat' | 'text'; body: Record<string, unknown> }
  | { type: 'abort'; id: number };

export interface ModelInfo {
  id: string;
  arch: string;
  kernels: string;
  nCtx: number;
  chatTemplate: boolean;
  fromCache: boolean;
  crossOriginIsolated: boolean;
  loadMs: number;
  /** Files the model came in (the shards of a split GGUF). */
  files: number;
}

export type FromWorker =
  | { type: 'progress'; phase: string; loaded: number; total: number }
  | { type: 'loaded'; info: ModelInfo }
  | { type: 'load-error'; message: string }
  | { type: 'chunk'; id: number; chunk: unknown }
  | { type: 'done'; id: number }
  | { type: 'error'; id: number; message: string };
