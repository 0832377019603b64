import { UNKNOWN_LABEL } from '../evaluate/types.js';
import { FacetrainError } from '../errors.js';

/**
 * The one rule for a person's name, wherever it comes from (a dataset folder, `--name`, the server's
 * URL): trimmed, non-empty, no control characters (a newline would shift labels.txt), no path
 * separators, and not `unknown` (indistinguishable from a stranger). Returns the trimmed name.
 */
export function checkPersonName(raw: string, where: string): string {
  const name = raw.trim();
  const problem =
    name === ''
      ? 'is empty'
      : /\p{Cc}/u.test(name)
        ? 'contains a control character (newline, tab, ...)'
        : /[/\\]/.test(name)
          ? 'contains a path separator (/ or \\)'
          : name.toLowerCase() === UNKNOWN_LABEL
            ? `is "${UNKNOWN_LABEL}", which is reserved for faces the model does not know`
            : undefined;
  if (problem) throw new FacetrainError('FT_ERR_DATASET', `${where}: the person name ${JSON.stringify(raw)} ${problem}; use a name such as "alice_smith"`);
  return name;
}
