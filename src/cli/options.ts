import type { CAC } from 'cac';
import type { BaseName } from '../config.js';
import { type FacetrainError, invalidOption } from '../errors.js';
import { EMBEDDING_BASES, isEmbeddingBase } from '../recognize/embedding-base.js';
import type { RuntimeName } from '../runtime/runtime.js';

export const kebab = (name: string): string => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** Library options whose flag is not their name in kebab-case. */
const RENAMED_FLAGS: Record<string, string> = { outDir: '--out', modelDir: '--model' };

/** The library options the CLI has a flag for (cac's camel-cased flag names), filled by knowFlags. */
const FLAGGED_OPTIONS = new Set<string>();

/** Records every flag registered on `cli`, so that library messages naming those options print them as flags. */
export function knowFlags(cli: CAC): void {
  for (const command of [cli.globalCommand, ...cli.commands]) for (const option of command.options) FLAGGED_OPTIONS.add(option.name);
}

/** Library functions a message may send the user to (in backticks, with parentheses: `train()`), as the commands that run them. */
const COMMAND_OF_FUNCTION: Record<string, string> = { 'train()': 'facetrain train', 'exportModelDir()': 'facetrain export' };

function flagOf(option: string): string | undefined {
  return RENAMED_FLAGS[option] ?? (FLAGGED_OPTIONS.has(option) ? `--${kebab(option)}` : undefined);
}

/** Library text as the CLI prints it: options named in backticks (`outDir`) become their flags (--out), functions (`train()`) their commands. */
export function cliText(text: string): string {
  return text.replace(/`(-{0,2}[A-Za-z][\w. -]*(?:\(\))?)`/g, (_, name: string) => COMMAND_OF_FUNCTION[name] ?? flagOf(name) ?? name);
}

/** An error as the CLI prints it: its text with flags (cliText), then the flags of options its remedy refers to without naming them. */
export function cliMessage(err: FacetrainError): string {
  const unnamed = err.options.filter((option) => !err.message.includes(`\`${option}\``)).flatMap((option) => flagOf(option) ?? []);
  const message = cliText(err.message);
  return unnamed.length > 0 ? `${message} (${unnamed.join(', ')})` : message;
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
