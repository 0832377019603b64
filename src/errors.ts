/** Error codes a user can act on. The CLI prints the message on one line and exits non-zero; the server maps the status. */
export const ERROR_CODES = Object.freeze({
  FT_ERR_INVALID_OPTION: 2,
  FT_ERR_DATASET: 3,
  FT_ERR_IMAGE: 4,
  FT_ERR_MODEL: 5,
  FT_ERR_WEIGHTS: 6,
  FT_ERR_EXISTS: 7,
  FT_ERR_UNSUPPORTED: 8,
  FT_ERR_NETWORK: 9,
} as const);

export type ErrorCode = keyof typeof ERROR_CODES;

const HTTP_STATUS: Record<ErrorCode, number> = {
  FT_ERR_INVALID_OPTION: 400,
  FT_ERR_DATASET: 400,
  FT_ERR_IMAGE: 400,
  FT_ERR_MODEL: 500,
  FT_ERR_WEIGHTS: 500,
  FT_ERR_EXISTS: 409,
  FT_ERR_UNSUPPORTED: 422,
  FT_ERR_NETWORK: 503,
};

/** A mistake the user can fix: message says what is wrong, where, and what to do. */
export class FacetrainError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FacetrainError';
    this.code = code;
  }
  get exitCode(): number {
    return ERROR_CODES[this.code];
  }
  get httpStatus(): number {
    return HTTP_STATUS[this.code];
  }
}

export function invalidOption(name: string, expected: string, actual: unknown): FacetrainError {
  const shown = typeof actual === 'string' ? `"${actual}"` : String(actual);
  return new FacetrainError('FT_ERR_INVALID_OPTION', `Expected ${expected} for ${name} but received ${shown}`);
}
