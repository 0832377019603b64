/**
 * Every error code facetrain reports, with the CLI's exit status and the server's HTTP status. The
 * library's codes are mistakes a user fixes (the CLI prints the message on one line and exits with
 * `exit`); the server's own codes refuse one request and never reach the CLI (exit 1 if they did).
 */
export const ERROR_CODES = Object.freeze({
  FT_ERR_INVALID_OPTION: { exit: 2, http: 400 },
  FT_ERR_DATASET: { exit: 3, http: 400 },
  FT_ERR_IMAGE: { exit: 4, http: 400 },
  FT_ERR_MODEL: { exit: 5, http: 500 },
  FT_ERR_WEIGHTS: { exit: 6, http: 500 },
  FT_ERR_EXISTS: { exit: 7, http: 409 },
  FT_ERR_UNSUPPORTED: { exit: 8, http: 422 },
  FT_ERR_NETWORK: { exit: 9, http: 503 },
  FT_ERR_FILE: { exit: 10, http: 500 },
  // the server's own refusals
  FT_ERR_BAD_REQUEST: { exit: 1, http: 400 },
  FT_ERR_BAD_MULTIPART: { exit: 1, http: 400 },
  FT_ERR_BAD_URL: { exit: 1, http: 400 },
  FT_ERR_NO_PHOTO: { exit: 1, http: 400 },
  FT_ERR_AUTH: { exit: 1, http: 401 },
  FT_ERR_WRITE_DISABLED: { exit: 1, http: 403 },
  FT_ERR_NOT_FOUND: { exit: 1, http: 404 },
  FT_ERR_UNKNOWN_PERSON: { exit: 1, http: 404 },
  FT_ERR_METHOD: { exit: 1, http: 405 },
  FT_ERR_TIMEOUT: { exit: 1, http: 408 },
  FT_ERR_TOO_LARGE: { exit: 1, http: 413 },
  FT_ERR_TOO_MANY_FILES: { exit: 1, http: 413 },
  FT_ERR_TOO_MANY_PIXELS: { exit: 1, http: 413 },
  FT_ERR_URL_TOO_LONG: { exit: 1, http: 414 },
  FT_ERR_CONTENT_TYPE: { exit: 1, http: 415 },
  FT_ERR_HEADERS_TOO_LARGE: { exit: 1, http: 431 },
  FT_ERR_NO_USABLE_PHOTO: { exit: 1, http: 422 },
  FT_ERR_INTERNAL: { exit: 1, http: 500 },
  FT_ERR_BUSY: { exit: 1, http: 503 },
} as const);

export type ErrorCode = keyof typeof ERROR_CODES;

/** A mistake the user can fix: message says what is wrong, where, and what to do. */
export class FacetrainError extends Error {
  readonly code: ErrorCode;
  /**
   * Library option names (TrainConfig fields such as outDir, force) the message names in backticks
   * or its remedy refers to: front ends name them their way (the CLI as flags).
   */
  readonly options: readonly string[];
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; options?: string[] }) {
    super(message, options);
    this.name = 'FacetrainError';
    this.code = code;
    this.options = options?.options ?? [];
  }
  get exitCode(): number {
    return ERROR_CODES[this.code].exit;
  }
  get httpStatus(): number {
    return ERROR_CODES[this.code].http;
  }
}

/** A value out of range, naming the option `name` in backticks (front ends swap in their spelling, see FacetrainError.options). */
export function invalidOption(name: string, expected: string, actual: unknown): FacetrainError {
  const shown = typeof actual === 'string' ? `"${actual}"` : String(actual);
  return new FacetrainError('FT_ERR_INVALID_OPTION', `Expected ${expected} for \`${name}\` but received ${shown}`, { options: [name] });
}

const FS_REASONS: Record<string, string> = {
  ENOENT: 'does not exist',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ELOOP: 'is a loop of symbolic links',
  EISDIR: 'is a folder where a file was expected',
  ENOTDIR: 'is a file where a folder was expected',
  ENOSPC: 'no space left on the device',
  EROFS: 'is on a read-only file system',
  EMFILE: 'too many open files',
  ENAMETOOLONG: 'the name is too long',
};

/** A Node file-system error (ELOOP, EACCES, ENOSPC...) as one line naming the path; other errors are returned as they are. */
export function fromFileSystemError(err: unknown): unknown {
  const e = err as NodeJS.ErrnoException;
  if (!(err instanceof Error) || typeof e.code !== 'string' || typeof e.syscall !== 'string') return err;
  const reason = FS_REASONS[e.code] ?? e.message.split('\n')[0];
  return new FacetrainError('FT_ERR_FILE', `${e.path ?? e.syscall}: ${reason} (${e.code}); check the path and its permissions`, { cause: err });
}
