// Typed errors. Every message names the thing that is wrong (file, tensor, key, byte offset)
// so the CLI can print it as one line without a stack trace.

/**
 * Messages quote names read from files (keys, tensor names, strings), which a corrupt file can
 * fill with control bytes or megabytes of garbage: keep every message one short printable line.
 */
export function oneLine(message: string, max = 400): string {
  // eslint-disable-next-line no-control-regex
  let s = message.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  if (s.length > max) s = `${s.slice(0, max - 60)} … ${s.slice(-50)}`;
  return s;
}

export class LutraError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(oneLine(message), options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A file is truncated, corrupt or not in the format it claims to be. */
export class FormatError extends LutraError {
  readonly file: string;
  readonly offset: number | undefined;
  constructor(file: string, message: string, offset?: number) {
    super('E_FORMAT', offset === undefined ? `${file}: ${message}` : `${file}: ${message} (at byte offset ${offset})`);
    this.file = file;
    this.offset = offset;
  }
}

/**
 * A model file cannot be read as one: missing, a directory, a device or FIFO, unreadable, or larger
 * than the cap for its kind. Raised before any byte is read, naming the path.
 */
export class FileError extends LutraError {
  readonly file: string;
  constructor(file: string, message: string, options?: { cause?: unknown }) {
    super('E_FILE', `${file}: ${message}`, options);
    this.file = file;
  }
}

/** The file is valid but uses something lutra does not implement (architecture, tensor type, tokenizer). */
export class UnsupportedError extends LutraError {
  constructor(message: string) {
    super('E_UNSUPPORTED', message);
  }
}

/** The model is inconsistent: a missing tensor, a wrong shape, a missing hyper-parameter. */
export class ModelError extends LutraError {
  constructor(message: string) {
    super('E_MODEL', message);
  }
}

/** Bad argument from the caller (CLI flag or API option). */
export class ArgumentError extends LutraError {
  constructor(message: string) {
    super('E_ARGUMENT', message);
  }
}

export class TokenizerError extends LutraError {
  constructor(message: string) {
    super('E_TOKENIZER', message);
  }
}

export class AbortError extends LutraError {
  constructor(message = 'operation aborted') {
    super('E_ABORTED', message);
  }
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError(typeof signal.reason === 'string' ? signal.reason : 'operation aborted');
}
