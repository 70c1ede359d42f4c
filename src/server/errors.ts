// Any error -> OpenAI's error object and the HTTP status that goes with it. One table, so the
// in-process engine's typed errors and the framework's own (body too large, bad JSON) read alike.

import { AbortError, LutraError } from '../core/errors.js';
import { InvalidRequestError } from '../openai/schema.js';
import { QueueFullError } from '../openai/slots.js';

export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export interface HttpError {
  status: number;
  body: OpenAIErrorBody;
  headers?: Record<string, string>;
}

export function errorBody(message: string, type: string, param: string | null = null, code: string | null = null): OpenAIErrorBody {
  return { error: { message, type, param, code } };
}

/** Fastify's own error codes that are the client's fault. */
const FRAMEWORK: Record<string, { status: number; code: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'body_too_large' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'invalid_json' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'invalid_json' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'unsupported_media_type' },
};

export function toHttpError(e: unknown, shuttingDown = false): HttpError {
  if (e instanceof InvalidRequestError) return { status: 400, body: errorBody(e.message, 'invalid_request_error', e.param, e.errorCode) };
  if (e instanceof QueueFullError) {
    return { status: 503, body: errorBody(e.message, 'server_error', null, 'queue_full'), headers: { 'retry-after': String(e.retryAfter) } };
  }
  if (e instanceof AbortError && shuttingDown) {
    return { status: 503, body: errorBody('the server is shutting down', 'server_error', null, 'shutting_down'), headers: { 'retry-after': '5' } };
  }
  // The client's fault: a bad argument, or chat asked of a model that has no template. Anything
  // else lutra throws while serving (tokenizer, template limits, a bad model file) is the model's
  // or the server's fault, so a 5xx: a client must not be told to fix a request that was fine.
  if (e instanceof LutraError && (e.code === 'E_ARGUMENT' || e.code === 'E_NO_TEMPLATE')) {
    return { status: 400, body: errorBody(e.message, 'invalid_request_error', null, e.code.toLowerCase()) };
  }
  const fe = e as { code?: string; statusCode?: number; message?: string };
  const known = fe.code ? FRAMEWORK[fe.code] : undefined;
  if (known) return { status: known.status, body: errorBody(fe.message ?? known.code, 'invalid_request_error', null, known.code) };
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { status: fe.statusCode, body: errorBody(fe.message ?? 'bad request', 'invalid_request_error') };
  }
  return { status: 500, body: errorBody(e instanceof Error ? e.message : String(e), 'server_error', null, e instanceof LutraError ? e.code.toLowerCase() : null) };
}
