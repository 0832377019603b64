import type { Command } from 'cac';
import { checkRange, describeRange, type NumberRange } from '../config.js';
import { invalidOption } from '../errors.js';
import { engineOption, kebab, numberOption, optionalNumber, rawOptionValue } from './options.js';

/** One command-line flag of a library option: the flag is the option's name in kebab-case. */
export interface Flag {
  /**
   * number: parsed, and checked against its range, named by its flag on error; boolean: `--x` /
   * `--no-x`; string: as typed; choice: one of `choices`; engine: onnx or tfjs.
   */
  kind: 'number' | 'boolean' | 'string' | 'choice' | 'engine';
  /** The value's placeholder in --help (numbers and strings). */
  value?: string;
  help: string;
  /** The values a `choice` flag takes. */
  choices?: readonly string[];
  /** No CLI default: the library takes its own, which depends on other options (e.g. the base's). */
  perBase?: true;
}

/** `--engine`, as every command that runs networks has it. */
export const ENGINE_FLAG: Flag = Object.freeze({ kind: 'engine', value: 'name', help: 'Runtime for the networks: onnx (onnxruntime-node, default when installed) or tfjs' });

/** A command's flags, one per field of the library's typed options. */
export type FlagTable<Options> = { readonly [Field in keyof Options]-?: Flag };

/** The range of each number of a command's options. */
export type FlagRanges<Options> = Partial<Record<keyof Options, NumberRange>>;

/**
 * The flags of `table` registered on `command`: defaults from the library's `defaults`, and the
 * range of each number in its help.
 */
export function addFlags<Options>(command: Command, table: FlagTable<Options>, defaults: Partial<Options>, ranges: FlagRanges<Options> = {}): Command {
  for (const [field, flag] of Object.entries(table) as [keyof Options & string, Flag][]) {
    const name = flag.value ? `--${kebab(field)} <${flag.value}>` : `--${kebab(field)}`;
    const fallback = flag.perBase ? undefined : defaults[field];
    const range = ranges[field];
    const help = range ? `${flag.help} (${describeRange(range)})` : flag.help;
    // an off switch is off unless given; --detect/--augment default on, so that --no-x turns them off
    command.option(name, help, fallback === undefined || fallback === false ? undefined : { default: fallback });
  }
  return command;
}

/**
 * The options `flags` set (cac camel-cases flag names back to the field names). Every value is
 * checked here, before a command reads any file, with the one-line error of the library's own check:
 * numbers against `ranges`, choices against their list, each named by its flag.
 */
export function optionsFromFlags<Options>(flags: Record<string, unknown>, table: FlagTable<Options>, defaults: Partial<Options>, ranges: FlagRanges<Options> = {}): Partial<Options> {
  const options: Record<string, unknown> = {};
  for (const [field, flag] of Object.entries(table) as [keyof Options & string, Flag][]) {
    const value = flags[field];
    const name = `--${kebab(field)}`;
    const fallback = flag.perBase ? undefined : defaults[field];
    if (flag.kind === 'number') {
      const n = fallback === undefined ? optionalNumber(name, value) : numberOption(name, value);
      const range = ranges[field];
      if (n !== undefined && range) checkRange(name, n, range);
      options[field] = n;
    } else if (flag.kind === 'boolean') options[field] = fallback === true ? value !== false : value === true;
    else if (flag.kind === 'engine') options[field] = engineOption(value);
    else if (value === undefined) options[field] = undefined;
    else {
      // cac turns number-like values into numbers (`--name 007` becomes 7): names and keys are read as typed
      const typed = rawOptionValue(name) ?? String(value);
      if (flag.kind === 'choice' && !flag.choices?.includes(typed)) throw invalidOption(name, (flag.choices ?? []).join(' or '), typed);
      options[field] = typed;
    }
  }
  return options as Partial<Options>;
}
