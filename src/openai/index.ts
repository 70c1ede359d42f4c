// The OpenAI-shaped engine API: createEngine, chat sessions, the request/response types.

export { createEngine, Engine, DEFAULT_TEMPERATURE, type EngineOptions, type EngineSpeculativeOptions } from './engine.js';
export { defaultChatMaxTokens } from './context-shift.js';
export { ChatSession, type ChatSessionOptions, type TurnInput, type TurnParams, type TurnStructured } from './chat-session.js';
export { InvalidRequestError } from './schema.js';
export { QueueFullError } from './slots.js';
export type * from './types.js';
