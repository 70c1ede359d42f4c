// Messages between the chat page (chat.ts) and its engine worker (chat-worker.ts).

/**
 * A model to load: a URL or hf: reference (`headers` go to URLs of the page's own origin only, the
 * Hub token to the Hub endpoint's origin only), a local file, or the shards of a split GGUF.
 */
export type LoadSource =
  | { url: string; headers?: Record<string, string>; hub?: { endpoint?: string; token?: string } }
  | { file: File }
  | { files: File[] };

/** A projector (mmproj) GGUF for pictures: a URL (through the OPFS cache) or a local file. */
export type ProjectorSource = { url: string; headers?: Record<string, string> } | { file: File };

export type ToWorker =
  | { type: 'load'; source: LoadSource; cache: boolean; ctx?: number; name?: string; mmproj?: ProjectorSource; backend?: 'auto' | 'wasm' | 'webgpu' }
  | { type: 'request'; id: number; kind: 'chat' | 'text'; body: Record<string, unknown> }
  | { type: 'abort'; id: number };

export interface ModelInfo {
  id: string;
  arch: string;
  kernels: string;
  /** The load's one line on the backend: which (WebGPU or WebAssembly) and, for auto, why. */
  backendNote: string;
  nCtx: number;
  chatTemplate: boolean;
  fromCache: boolean;
  crossOriginIsolated: boolean;
  loadMs: number;
  /** Files the model came in (the shards of a split GGUF). */
  files: number;
  /** The projector loaded with it ("resampler, 448-pixel slices"), or undefined: the model takes no pictures. */
  vision?: string;
}

export type FromWorker =
  | { type: 'progress'; phase: string; loaded: number; total: number }
  | { type: 'loaded'; info: ModelInfo }
  | { type: 'load-error'; message: string }
  | { type: 'chunk'; id: number; chunk: unknown }
  | { type: 'done'; id: number }
  | { type: 'error'; id: number; message: string };
