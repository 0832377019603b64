import type { Command } from 'cac';
import { describeRange, type NumberRange } from '../config.js';
import { engineOption, kebab, numberOption, optionalNumber } from './options.js';

/** One command-line flag of a library option: the flag is the option's name in kebab-case. */
export interface Flag {
  /** number: parsed and named by its flag on error; boolean: `--x` / `--no-x`; string: as typed. */
  kind: 'number' | 'boolean' | 'string' | 'engine';
  /** The value's placeholder in --help (numbers and strings). */
  value?: string;
  help: string;
  /** No CLI default: the library takes its own, which depends on other options (e.g. the base's). */
  perBase?: true;
}

/** A command's flags, one per field of the library's typed options. */
export type FlagTable<Options> = { readonly [Field in keyof Options]-?: Flag };

/**
 * The flags of `table` registered on `command`: defaults from the library's `defaults`, and the
 * library's range of each number in its help (the library checks the range, naming the option).
 */
export function addFlags<Options>(command: Command, table: FlagTable<Options>, defaults: Partial<Options>, ranges: Partial<Record<keyof Options, NumberRange>> = {}): Command {
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

/** The options `flags` set (cac camel-cases flag names back to the field names); numbers parsed, named by their flag on error. */
export function optionsFromFlags<Options>(flags: Record<string, unknown>, table: FlagTable<Options>, defaults: Partial<Options>): Partial<Options> {
  const options: Record<string, unknown> = {};
  for (const [field, flag] of Object.entries(table) as [keyof Options & string, Flag][]) {
    const value = flags[field];
    const name = `--${kebab(field)}`;
    const fallback = flag.perBase ? undefined : defaults[field];
    if (flag.kind === 'number') options[field] = fallback === undefined ? optionalNumber(name, value) : numberOption(name, value);
    else if (flag.kind === 'boolean') options[field] = fallback === true ? value !== false : value === true;
    else if (flag.kind === 'engine') options[field] = engineOption(value);
    else options[field] = value === undefined ? undefined : String(value);
  }
  return options as Partial<Options>;
}
