import type { TSchema } from '@sinclair/typebox';
import type { TypeCheck } from '@sinclair/typebox/compiler';

/** The first few schema errors of a model-directory file as one line: `/labels: expected array; /threshold: missing`. */
export function schemaErrors(check: TypeCheck<TSchema>, value: unknown): string {
  const errors = [...check.Errors(value)].slice(0, 3);
  return errors.map((e) => `${e.path || '/'}: ${e.message === 'Expected required property' ? 'missing' : e.message.toLowerCase()}`).join('; ');
}
