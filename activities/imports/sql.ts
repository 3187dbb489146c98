import pg from 'pg';

/** A quoted identifier: names from files and options are never spliced in unquoted. */
export const ident = (name: string): string => pg.escapeIdentifier(name);

/** `"schema"."table"`. */
export const qualified = (schema: string, table: string): string => `${ident(schema)}.${ident(table)}`;

/** A quoted SQL literal, for the few places a value cannot be bound (DDL, COPY, generated mappings). */
export const literal = (value: string): string => pg.escapeLiteral(value);

/** `nullif(btrim(x), '') is null`: empty after trimming. */
export const blank = (expression: string): string => `nullif(btrim(${expression}), '') is null`;

/** The text as a numeric when it is one, else null. */
export const numericOrNull = (expression: string): string =>
  `(case when ops.input_is_valid(${expression}, 'numeric') then (${expression})::numeric end)`;
