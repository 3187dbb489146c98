/** Quoting is written once, for every room: lib/identifiers.ts. */
export { ident, literal, qualified } from '../lib/identifiers';

/** `nullif(btrim(x), '') is null`: empty after trimming. */
export const blank = (expression: string): string => `nullif(btrim(${expression}), '') is null`;

/** The text as a numeric when it is one, else null. */
export const numericOrNull = (expression: string): string =>
  `(case when ops.input_is_valid(${expression}, 'numeric') then (${expression})::numeric end)`;
