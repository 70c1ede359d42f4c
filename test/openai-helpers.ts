// Shared by the engine, server and browser tests: a tiny random llama with a ChatML template
// (stories260K has none), and the greedy CLI text the browser must reproduce.

import { GGUFType } from '../src/formats/gguf.js';
import { synthGGUF } from './synth.js';

export const CHATML = "{% for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

export function chatModelBytes(): Uint8Array {
  return synthGGUF({
    arch: 'llama', shape: { nEmbd: 32, nLayer: 1, nHead: 4, nHeadKv: 2, nFF: 48 },
    extraMeta: [['tokenizer.chat_template', { type: GGUFType.STRING, value: CHATML }]],
  });
}
