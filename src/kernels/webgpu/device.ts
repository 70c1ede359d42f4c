// Opening a WebGPU device: the browser's navigator.gpu, or in Node the optional `webgpu` package
// (Dawn's binding, a native binary that is never a dependency of lutra's core: it is imported only
// when the WebGPU backend is asked for). Requests the adapter's storage-buffer limits, watches for
// device loss and uncaptured errors, and says in one line what it got. Not the shaders: ops.ts.
/// <reference types="@webgpu/types" />

import { LutraError } from '../../core/errors.js';

/** The WebGPU backend cannot run: no adapter, a lost device, a limit a model does not fit, a failed upload. */
export class GpuError extends LutraError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_GPU', message, options);
  }
}

export interface GpuOptions {
  /**
   * Split weight matrices into shards of at most this many bytes (below the adapter's binding
   * limit): for tests of tensor splitting. Scratch and KV buffers keep the device's limit.
   */
  maxBindingBytes?: number;
  /**
   * false: do not request shader-f16 even where the adapter has it. No shader uses f16 arithmetic
   * (all are f32, f16 values decoded and rounded with integer operations: wgsl.ts F16_WGSL), so
   * the results are the same bits either way (test/webgpu-kernels checks it).
   */
  f16?: boolean;
}

export interface Gpu {
  readonly device: GPUDevice;
  /** Bytes one weight shard may span: min(maxStorageBufferBindingSize, maxBufferSize, GpuOptions.maxBindingBytes). */
  readonly maxBinding: number;
  /** Bytes any other storage buffer may span: min(maxStorageBufferBindingSize, maxBufferSize). */
  readonly deviceBinding: number;
  /** The device was given shader-f16 (the adapter has it, GpuOptions.f16 did not refuse it); no shader uses it yet. */
  readonly f16: boolean;
  /** The adapter is a CPU emulation (SwiftShader, llvmpipe/lavapipe, a fallback adapter): WebAssembly is faster there. */
  readonly software: boolean;
  /** One line: the adapter, its limits and features. */
  readonly note: string;
  /** Why the device was lost or failed (set once); every wait on the GPU checks it. */
  lostReason: string | null;
  /** Resolves when the device is lost (destroyed, reset, the adapter gone). */
  readonly lost: Promise<string>;
  destroy(): void;
}

type GpuEntry = { requestAdapter(o?: GPURequestAdapterOptions): Promise<GPUAdapter | null> };

let nodeGpu: Promise<GpuEntry> | undefined;

/** navigator.gpu, else (Node, Deno, Bun) Dawn from the optional `webgpu` package; loaded once. */
async function gpuEntry(): Promise<GpuEntry> {
  const nav = (globalThis as { navigator?: { gpu?: GpuEntry } }).navigator;
  if (nav?.gpu) return nav.gpu;
  const isNode = typeof process !== 'undefined' && !!process.versions?.node;
  if (!isNode) throw new GpuError('WebGPU is not available here: navigator.gpu is missing (a browser without WebGPU, or a page that is not a secure context)');
  nodeGpu ??= (async () => {
    // A variable specifier: bundlers leave it alone, and the core keeps no native dependency.
    const pkg = 'webgpu';
    let mod: { create(flags: string[]): GpuEntry; globals: Record<string, unknown> };
    try {
      mod = (await import(pkg)) as typeof mod;
    } catch (e) {
      throw new GpuError(`backend webgpu in Node needs the optional package "webgpu" (Dawn's Node binding): npm install webgpu (${(e as Error).message})`, { cause: e });
    }
    // Dawn's objects (GPUBufferUsage, GPUMapMode ...) as globals, as a browser has them.
    for (const [k, v] of Object.entries(mod.globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
    return mod.create([]);
  })();
  try {
    return await nodeGpu;
  } catch (e) {
    nodeGpu = undefined;
    throw e;
  }
}

function isSoftware(info: GPUAdapterInfo | undefined, fallback: boolean): boolean {
  const s = `${info?.vendor ?? ''} ${info?.architecture ?? ''} ${info?.device ?? ''} ${info?.description ?? ''}`.toLowerCase();
  return fallback || /swiftshader|llvmpipe|lavapipe|software|warp|cpu/.test(s);
}

const NO_ADAPTER_NODE = 'no WebGPU adapter: Dawn found no usable Vulkan/Metal/D3D12 driver (without a GPU, point VK_ICD_FILENAMES at a SwiftShader ICD such as chromium\'s vk_swiftshader_icd.json; Dawn needs the system Vulkan loader, libvulkan1)';

/** An adapter and a device with the adapter's buffer limits, or a GpuError saying why not. */
export async function openGpu(opts: GpuOptions = {}): Promise<Gpu> {
  const entry = await gpuEntry();
  const adapter = await entry.requestAdapter({ powerPreference: 'high-performance' });
  const inBrowser = !!(globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu;
  if (!adapter) throw new GpuError(inBrowser ? 'no WebGPU adapter: navigator.gpu.requestAdapter() returned null (WebGPU disabled or blocklisted for this GPU)' : NO_ADAPTER_NODE);
  const al = adapter.limits;
  const f16 = adapter.features.has('shader-f16') && opts.f16 !== false;
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({
      requiredFeatures: f16 ? ['shader-f16'] : [],
      requiredLimits: {
        maxStorageBufferBindingSize: al.maxStorageBufferBindingSize,
        maxBufferSize: al.maxBufferSize,
        maxStorageBuffersPerShaderStage: al.maxStorageBuffersPerShaderStage,
        maxComputeWorkgroupStorageSize: al.maxComputeWorkgroupStorageSize,
      },
    });
  } catch (e) {
    throw new GpuError(`WebGPU adapter refused a device: ${(e as Error).message}`, { cause: e });
  }
  const info = (adapter as { info?: GPUAdapterInfo }).info;
  const software = isSoftware(info, (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter === true);
  const dl = device.limits;
  const deviceBinding = Math.min(dl.maxStorageBufferBindingSize, dl.maxBufferSize);
  const maxBinding = Math.min(deviceBinding, opts.maxBindingBytes ?? Infinity);
  const name = [info?.vendor, info?.architecture, info?.device, info?.description].filter(Boolean).join(' ') || 'unnamed adapter';
  const note = `WebGPU ${name}${software ? ' (software)' : ''}: binding ${(dl.maxStorageBufferBindingSize / 2 ** 20).toFixed(0)} MiB, buffer ${(dl.maxBufferSize / 2 ** 20).toFixed(0)} MiB${f16 ? ', shader-f16 (unused: f32 shaders)' : ', f32 shaders (no shader-f16)'}`;
  const gpu: Gpu = {
    device, maxBinding, deviceBinding, f16, software, note, lostReason: null,
    lost: device.lost.then((i) => {
      gpu.lostReason ??= `WebGPU device lost (${i.reason}${i.message ? `: ${i.message}` : ''})`;
      return gpu.lostReason;
    }),
    destroy: () => {
      gpu.lostReason ??= 'WebGPU device destroyed';
      device.destroy();
    },
  };
  device.addEventListener('uncapturederror', (ev) => {
    gpu.lostReason ??= `WebGPU error: ${(ev as GPUUncapturedErrorEvent).error.message}`;
  });
  return gpu;
}

/**
 * Whether a WebGPU adapter exists here, without keeping a device: `auto` asks this once per process
 * (in Node only when the optional package is installed).
 */
let probe: Promise<{ ok: boolean; software: boolean; reason: string }> | undefined;
export function probeGpu(): Promise<{ ok: boolean; software: boolean; reason: string }> {
  probe ??= (async () => {
    // Node has no navigator.gpu: loading Dawn to look costs 1-3 s and prints driver warnings to
    // stderr, so auto looks there only when LUTRA_WEBGPU=auto asks (--backend webgpu always does).
    const nav = (globalThis as { navigator?: { gpu?: unknown } }).navigator;
    if (!nav?.gpu && typeof process !== 'undefined' && process.env?.LUTRA_WEBGPU !== 'auto') {
      return { ok: false, software: false, reason: 'no navigator.gpu; in Node, auto tries Dawn (npm webgpu) only with LUTRA_WEBGPU=auto' };
    }
    try {
      const entry = await gpuEntry();
      const adapter = await entry.requestAdapter({ powerPreference: 'high-performance' });
      if (!adapter) return { ok: false, software: false, reason: 'no WebGPU adapter' };
      const info = (adapter as { info?: GPUAdapterInfo }).info;
      const software = isSoftware(info, (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter === true);
      return { ok: true, software, reason: software ? `the WebGPU adapter (${info?.description || info?.architecture || info?.vendor || 'fallback'}) is a CPU emulation` : 'a WebGPU adapter exists' };
    } catch (e) {
      return { ok: false, software: false, reason: (e as Error).message };
    }
  })();
  return probe;
}
