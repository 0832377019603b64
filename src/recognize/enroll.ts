import { FacetrainError } from '../util/errors.js';

/** Placeholder until enrolment lands: same signatures, refuses clearly. */
export interface EnrollPhoto {
  file: string;
  bytes: Uint8Array;
}

export interface EnrollResult {
  added: number;
  skipped: { file: string; reason: string }[];
}

function unsupported(): FacetrainError {
  return new FacetrainError('FT_ERR_UNSUPPORTED', 'enrolment is not available for this model yet');
}

export async function enrollPerson(_modelDir: string, _name: string, _images: EnrollPhoto[], _options?: Record<string, unknown>): Promise<EnrollResult> {
  throw unsupported();
}

export async function forgetPerson(_modelDir: string, _name: string): Promise<void> {
  throw unsupported();
}
