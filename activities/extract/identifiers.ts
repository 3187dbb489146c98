import pg from 'pg';

/** A quoted identifier; names from configuration are never spliced in unquoted. */
export const ident = (name: string): string => pg.escapeIdentifier(name);

/** `"schema"."table"`. */
export const qualified = (schema: string, table: string): string => `${ident(schema)}.${ident(table)}`;

/**
 * A quoted literal cast to `type`. COPY cannot take bind parameters, so the bounds of an extract are
 * written into its select this way; `type` comes from the source's own catalog.
 */
export const literal = (value: string, type: string): string => `${pg.escapeLiteral(value)}::${type}`;

/** A 64-bit advisory lock key for a name, computed by Postgres. */
export const lockKey = (name: string) => ({ sql: 'hashtextextended($1, 0)', value: name });
