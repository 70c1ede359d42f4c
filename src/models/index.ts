// Registers every architecture lutra knows. Adding one is one file and one line here.

import { registerArchitecture } from './registry.js';
import { llama } from './llama.js';
import { qwen2 } from './qwen2.js';
import { qwen3 } from './qwen3.js';
import { minicpm } from './minicpm.js';

for (const a of [llama, qwen2, qwen3, minicpm]) registerArchitecture(a);

export { getArchitecture, architectures, type Architecture } from './registry.js';
export { DecoderScratch, ForwardPass, type DecoderHParams, type InputEmbeddings } from './decoder.js';
