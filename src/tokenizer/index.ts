// Public surface of the tokenizer subsystem: tokenizers from GGUF metadata or HF tokenizer.json,
// streaming detokenization and chat templates. Re-exports only.

export type { EncodeOptions, Tokenizer } from './types.js';
export { tokenizerFromGGUF } from './from-gguf.js';
export { tokenizerFromJSON } from './from-json.js';
export { StreamDecoder } from './stream.js';
export { renderChatTemplate, requireChatTemplate, type ChatMessage, type ChatTemplateOptions } from './chat-template.js';
export { knownPreTokenizers } from './gguf-pre.js';
