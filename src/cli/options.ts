import type { RuntimeName } from '../runtime/runtime.js';
import { invalidOption } from '../errors.js';

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
