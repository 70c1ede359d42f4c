// Registers every architecture lutra knows. Adding one is one file and one line here.

import { registerArchitecture } from './registry.js';
import { llama } from './llama.js';
import { qwen2 } from './qwen2.js';
import { qwen3 } from './qwen3.js';
import { minicpm } from './minicpm.js';
import { qwen2moe } from './qwen2moe.js';
import { qwen3moe } from './qwen3moe.js';
import { minicpm3 } from './minicpm3.js';
import { phi2 } from './phi2.js';
import { phi3 } from './phi3.js';
import { gemma3 } from './gemma3.js';
import { bitnet } from './bitnet.js';

registerArchitecture(llama); registerArchitecture(qwen2); registerArchitecture(qwen3); registerArchitecture(minicpm);
registerArchitecture(qwen2moe); registerArchitecture(qwen3moe); registerArchitecture(minicpm3);
registerArchitecture(phi2); registerArchitecture(phi3); registerArchitecture(gemma3); registerArchitecture(bitnet);

export { getArchitecture, architectures, type Architecture } from './registry.js';
export { DecoderScratch, ForwardPass, type DecoderHParams, type InputEmbeddings } from './decoder.js';
