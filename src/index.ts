// lutra's public API: re-exports only.

export { loadModel, Model, type LoadOptions, type LoadProgress, type ChatMessage, type ModelInput, type ModelPart } from './runtime/model.js';
export { Context, type ContextOptions, type DecodeOptions } from './runtime/context.js';
export type { InputEmbeddings } from './models/index.js';
export type { KVStore, KVCacheType } from './runtime/kv/index.js';
export type { GenerateChunk, GenerateOptions, StopReason, Timings } from './runtime/generate.js';
export { TokenStepper } from './runtime/stepper.js';
export { TextStream } from './runtime/text-stream.js';
export { SamplerChain, type SamplingOptions, type SamplerCheckpoint } from './runtime/sampler.js';
export { perplexity, type PerplexityOptions, type PerplexityResult } from './eval/perplexity.js';
export { parseGGUF, writeGGUF, GGUFType, type GGUFFile, type GGUFValue, type GGUFTensorInfo } from './formats/gguf.js';
export { splitGGUF, shardSuffix, type SplitOptions } from './formats/gguf-split.js';
export { LutraError, FormatError, UnsupportedError, ModelError, ArgumentError, TokenizerError, AbortError } from './core/errors.js';
export { architectures } from './models/index.js';
export {
  BUILTIN_CHAT_TEMPLATES, builtinChatTemplate, resolveChatTemplate, renderChatTemplate,
  type BuiltinChatTemplate, type ResolvedChatTemplate, type ChatTemplateSource,
} from './tokenizer/index.js';
export {
  createEngine, Engine, ChatSession, InvalidRequestError, QueueFullError, DEFAULT_TEMPERATURE, defaultChatMaxTokens,
  type EngineOptions, type ChatSessionOptions, type TurnParams, type TurnInput, type TurnStructured, type ChatCompletion, type ChatCompletionChunk,
  type ChatCompletionCreateParams, type ChatCompletionMessageParam, type Completion, type CompletionCreateParams,
  type CompletionUsage, type Stream, type RequestOptions, type SamplingParams,
  type ChatCompletionTokenLogprob, type CompletionLogprobs, type EmbeddingCreateParams, type CreateEmbeddingResponse,
} from './openai/index.js';
export type { TokenLogprob, TopLogprob } from './runtime/logprobs.js';
export type { Pooling } from './runtime/embed.js';
export { decodeImage, readImageHeader, checkImageSize, DEFAULT_IMAGE_LIMITS, ImageTooLargeError, type RgbImage, type ImageLimits } from './vision/image.js';
export { preprocessImage, sliceInstructions, imageLayout } from './vision/slicing.js';
export type { ClipHparams, PreparedImage, PreparedSlice, ImageLayout, LayoutItem } from './vision/types.js';
export { ImageCache, type ImageDecoder } from './runtime/image-cache.js';
