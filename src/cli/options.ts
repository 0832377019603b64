import type { BaseName } from '../config.js';
import { type FacetrainError, invalidOption } from '../errors.js';
import { EMBEDDING_BASES, isEmbeddingBase } from '../recognize/embedding-base.js';
import type { RuntimeName } from '../runtime/runtime.js';

/** The flag of each library option an error's remedy may name. */
const OPTION_FLAGS: Record<string, string> = { outDir: '--out', force: '--force', weights: '--weights', browserModel: '--browser-model' };

/** An error as the CLI prints it: the library's message, then the flags its remedy refers to. */
export function cliMessage(err: FacetrainError): string {
  const flags = err.options.map((name) => OPTION_FLAGS[name] ?? name);
  return flags.length > 0 ? `${err.message} (${flags.join(', ')})` : err.message;
}

export interface OutputFlags {
  json?: boolean;
}

/** cac passes numbers through as given on the command line; this rejects anything non-numeric by flag name. */
export function numberOption(flag: string, value: unknown): number {
  const n = typeof value === 'number' ? value : Number(value);
  if (value === '' || value === true || !Number.isFinite(n)) throw invalidOption(flag, 'a number', value);
  return n;
}

export function optionalNumber(flag: string, value: unknown): number | undefined {
  return value === undefined ? undefined : numberOption(flag, value);
}

export function engineOption(value: unknown): RuntimeName | undefined {
  if (value === undefined) return undefined;
  if (value !== 'onnx' && value !== 'tfjs') throw invalidOption('--engine', 'onnx or tfjs', value);
  return value;
}

/** `--base` of the commands that embed faces without a trained head (verify, cluster). */
export function embeddingBaseOption(value: unknown): BaseName | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !isEmbeddingBase(value)) throw invalidOption('--base', EMBEDDING_BASES.join(' or '), value);
  return value;
}

/**
 * A string option exactly as typed. cac's parser turns number-like values into numbers (`--name ''`
 * becomes 0, `--name 007` becomes 7), which is wrong for names.
 */
export function rawOptionValue(flag: string, argv: string[] = process.argv): string | undefined {
  for (let i = argv.length - 1; i >= 0; i--) {
    const arg = argv[i]!;
    if (arg === flag) return argv[i + 1] ?? '';
    if (arg.startsWith(`${flag}=`)) return arg.slice(flag.length + 1);
  }
  return undefined;
}
