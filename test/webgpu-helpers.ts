// The WebGPU tests' device: Dawn (npm webgpu) in Node on whatever adapter exists, else on the
// SwiftShader Vulkan driver that Debian's chromium ships. A test skips, printing why, only when no
// adapter comes up at all; in CI (.ci/run installs chromium and libvulkan1) one does.

import { existsSync } from 'node:fs';
import { openGpu, type Gpu, type GpuOptions } from '../src/kernels/webgpu/index.js';

export const SWIFTSHADER_ICD = ['/usr/lib/chromium/vk_swiftshader_icd.json', '/usr/lib64/chromium/vk_swiftshader_icd.json'].find((p) => existsSync(p));

/** Dawn reads VK_ICD_FILENAMES when it first loads Vulkan: set before the first adapter request. */
export function useSwiftShader(): void {
  if (!process.env.VK_ICD_FILENAMES && SWIFTSHADER_ICD) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
}

let reason: string | null | undefined;

/** null when a device opens here, else the reason (printed by the caller's skip). */
export async function gpuUnavailable(): Promise<string | null> {
  if (reason !== undefined) return reason;
  useSwiftShader();
  try {
    const g = await openGpu();
    g.destroy();
    reason = null;
  } catch (e) {
    reason = `no WebGPU device: ${(e as Error).message}`;
    process.stdout.write(`# WebGPU tests skipped: ${reason}\n`);
  }
  return reason;
}

export async function testGpu(opts?: GpuOptions): Promise<Gpu> {
  useSwiftShader();
  return openGpu(opts);
}
