// Public surface of the tokenizer subsystem: tokenizers from GGUF metadata or HF tokenizer.json,
// streaming detokenization and chat templates. Re-exports only.

export type { EncodeOptions, Tokenizer } from './types.js';
export { tokenizerFromGGUF } from './from-gguf.js';
export { tokenizerFromJSON } from './from-json.js';
export { StreamDecoder } from './stream.js';
export {
  renderChatTemplate, requireChatTemplate, resolveChatTemplate, isChatTemplateSource, FALLBACK_CHAT_TEMPLATE, fallbackTemplateNote,
  type ChatMessage, type ChatTemplateOptions, type ChatTemplateSource, type ResolvedChatTemplate,
} from './chat-template.js';
export { BUILTIN_CHAT_TEMPLATES, builtinChatTemplate, builtinChatTemplateNames, familyChatTemplate, type BuiltinChatTemplate } from './builtin-templates.js';
export { knownPreTokenizers } from './gguf-pre.js';
