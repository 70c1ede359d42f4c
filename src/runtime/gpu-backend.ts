// Which backend a model runs on when `webgpu` or `auto` is asked: WebGPU where an adapter exists,
// is a real GPU (auto leaves CPU emulations such as SwiftShader to WebAssembly, which is faster
// there), and the model's forward and weights fit it; else WebAssembly. Returns the GPU forward (or
// null) and the one-line note saying which and why.

import { UnsupportedError } from '../core/errors.js';
import type { Kernels } from '../kernels/types.js';
import { GpuError, openGpu, probeGpu, type GpuOptions } from '../kernels/webgpu/index.js';
import { GpuLlama, gpuForwardRefusal } from '../models/gpu-llama.js';
import type { LlamaWeights } from '../models/llama.js';
import type { Architecture, DecoderHParams } from '../models/index.js';

export type GpuChoice = 'webgpu' | 'auto';

export async function chooseGpu(backend: GpuChoice, arch: Architecture, hp: DecoderHParams, w: unknown, cpu: Kernels, opts: { gpu?: GpuOptions; onProgress?: (loaded: number, total: number) => void } = {}): Promise<{ gpu: GpuLlama | null; note: string }> {
  const refusal = gpuForwardRefusal(arch, hp);
  if (backend === 'webgpu') {
    if (refusal) throw new UnsupportedError(`backend webgpu: ${refusal}`);
    const gpu = await openGpu(opts.gpu);
    try {
      const m = await GpuLlama.create(gpu, hp, w as LlamaWeights, cpu, opts.onProgress && ((p) => opts.onProgress!(p.loaded, p.total)));
      return { gpu: m, note: gpuNote(m) };
    } catch (e) {
      gpu.destroy();
      throw e;
    }
  }
  if (refusal) return { gpu: null, note: `backend auto: WebAssembly (${refusal})` };
  const probe = await probeGpu();
  if (!probe.ok) return { gpu: null, note: `backend auto: WebAssembly (${probe.reason})` };
  if (probe.software) return { gpu: null, note: `backend auto: WebAssembly (${probe.reason}; --backend webgpu runs on it anyway)` };
  try {
    const gpu = await openGpu(opts.gpu);
    try {
      const m = await GpuLlama.create(gpu, hp, w as LlamaWeights, cpu, opts.onProgress && ((p) => opts.onProgress!(p.loaded, p.total)));
      return { gpu: m, note: `backend auto: ${gpuNote(m)}` };
    } catch (e) {
      gpu.destroy();
      throw e;
    }
  } catch (e) {
    if (!(e instanceof GpuError)) throw e;
    return { gpu: null, note: `backend auto: WebAssembly (the model does not fit the GPU: ${e.message})` };
  }
}

function gpuNote(m: GpuLlama): string {
  const cpu = m.cpuMatrices.length ? `; ${m.cpuMatrices.length} matrices on the CPU kernels: ${m.cpuMatrices.slice(0, 3).join(', ')}${m.cpuMatrices.length > 3 ? ', ...' : ''}` : '';
  return `${m.gpu.note}${cpu}`;
}
