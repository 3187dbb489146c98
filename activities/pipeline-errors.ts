import { ApplicationFailure } from '@temporalio/common';
import { toError } from '../lib/log';

/**
 * The daily pipeline's failure types. Permanent ones are non-retryable: retrying cannot fix a
 * mapping, a schema change or a reconciliation mismatch; a person must. Transient ones (the network,
 * the database restarting) are retried by Temporal with backoff.
 */
export type PipelineErrorType =
  | 'InvalidInput'
  | 'InvalidSourceDefinition'
  | 'SourceUnreachable'
  | 'SourceSchemaChanged'
  | 'MappingFailed'
  | 'DatabaseError'
  | 'ReconciliationMismatch';

/**
 * Postgres SQLSTATEs (a two-character class, or a full code) worth retrying: they are about the server
 * or the network, not about the statement or the data. Every other SQLSTATE is permanent.
 */
const RETRYABLE_SQLSTATES: Record<string, string> = {
  '08': 'connection exception',
  '40001': 'serialization failure',
  '40P01': 'deadlock detected',
  '53': 'insufficient resources: disk full, out of memory, too many connections',
  '55P03': 'lock not available',
  '57P01': 'admin shutdown',
  '57P02': 'crash shutdown',
  '57P03': 'cannot connect now: the server is starting',
  '57014': 'query canceled (statement timeout, or the server cancelled it)',
  '58': 'system error: I/O',
};

/** Class 08 but a bug of ours, not the network: retrying sends the same wrong message again. */
const PROTOCOL_VIOLATION = '08P01';

/** Node socket errors: the database could not be reached or the connection broke. */
const NETWORK_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTFOUND',
]);

export function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** True when the error is transient: a retry may succeed without anybody changing anything. */
export function isTransient(error: unknown): boolean {
  const state = sqlState(error);
  if (state === PROTOCOL_VIOLATION) return false;
  if (state) return state in RETRYABLE_SQLSTATES || state.slice(0, 2) in RETRYABLE_SQLSTATES;
  const code = (error as { code?: unknown })?.code;
  if (typeof code === 'string' && NETWORK_ERROR_CODES.has(code)) return true;
  // No SQLSTATE: pg's "Connection terminated unexpectedly", a stream that broke, a timeout of ours.
  return true;
}

export function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  const state = sqlState(error);
  return (
    (typeof code === 'string' && NETWORK_ERROR_CODES.has(code)) ||
    (state?.slice(0, 2) === '08' && state !== PROTOCOL_VIOLATION) ||
    state === '57P03' ||
    /Connection terminated|connection timeout/i.test(toError(error).message)
  );
}

/**
 * Rethrows what a database call threw, saying what was being done: transient errors stay retryable
 * (a source that cannot be reached as `SourceUnreachable`), permanent ones become non-retryable
 * ApplicationFailures of `type`. Keeps the original as the cause.
 */
export function failure(
  error: unknown,
  doing: string,
  options: { type?: PipelineErrorType; side?: 'source' | 'warehouse' } = {},
): never {
  if (error instanceof ApplicationFailure) throw error;
  const type = options.type ?? 'DatabaseError';
  const cause = toError(error);
  const state = sqlState(error);
  const message = `${doing}: ${cause.message}${state ? ` (SQLSTATE ${state})` : ''}`;
  if (isConnectionError(error))
    throw ApplicationFailure.create({
      message,
      type: options.side === 'source' ? 'SourceUnreachable' : 'DatabaseError',
      cause,
    });
  if (isTransient(error)) throw ApplicationFailure.create({ message, type, cause });
  throw ApplicationFailure.create({ message, type, cause, nonRetryable: true });
}

export function permanent(
  type: PipelineErrorType,
  message: string,
  details?: Record<string, unknown>,
): ApplicationFailure {
  return ApplicationFailure.create({ message, type, nonRetryable: true, details: details ? [details] : [] });
}
