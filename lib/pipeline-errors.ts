import { ApplicationFailure, TemporalFailure } from '@temporalio/common';
import { toError } from './log';

/**
 * The daily pipeline's failure types, one union. Permanent ones are non-retryable: retrying cannot fix
 * a mapping, a schema change or a reconciliation mismatch; a person must. Transient ones (the network,
 * the database restarting) are retried by Temporal with backoff.
 */
export type PipelineErrorType =
  | 'InvalidInput'
  | 'InvalidSourceDefinition'
  /** A run names a source that is not registered (nor built in). */
  | 'SourceNotFound'
  | 'SourceUnreachable'
  | 'SourceSchemaChanged'
  | 'MappingFailed'
  | 'DatabaseError'
  | 'ReconciliationMismatch'
  /**
   * An error no table below classifies: a bug, or a failure nobody has seen yet. Not retried, so it
   * surfaces at once; if it proves transient, its code belongs in a retryable table.
   */
  | 'UnexpectedError';

/**
 * What an error means for a retry: `unreachable` (the database could not be reached or the connection
 * broke: retried), `transient` (retried), `permanent` (a statement or data problem: not retried), or
 * `unknown` (nothing here knows it: not retried either, typed `UnexpectedError`).
 */
export type ErrorKind = 'unreachable' | 'transient' | 'permanent' | 'unknown';

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

/** Postgres SQLSTATEs that mean the server could not be reached or is not there yet. */
const UNREACHABLE_SQLSTATES: Record<string, string> = {
  '08': 'connection exception',
  '57P03': 'cannot connect now: the server is starting',
};

/** Class 08 but a bug of ours, not the network: retrying sends the same wrong message again. */
const PROTOCOL_VIOLATION = '08P01';

/** Node socket and stream errors (`error.code`): the database could not be reached or the connection broke. */
export const NETWORK_ERROR_CODES: Record<string, string> = {
  ECONNREFUSED: 'nothing listens on the port',
  ECONNRESET: 'the peer closed the connection',
  ETIMEDOUT: 'the connection timed out',
  EPIPE: 'written to a closed connection',
  EHOSTUNREACH: 'no route to the host',
  ENETUNREACH: 'no route to the network',
  EAI_AGAIN: 'name resolution failed, for now',
  ENOTFOUND: 'no such host (DNS may recover)',
  ERR_STREAM_PREMATURE_CLOSE: 'a stream of rows ended before its end: its connection broke',
};

/** Messages without a code that node-postgres gives when a connection breaks or cannot be made in time. */
const PG_CONNECTION_MESSAGES =
  /Connection terminated|connection timeout|timeout exceeded when trying to connect/i;

/** The SQLSTATE node-postgres puts in `code`. */
export function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** Looks a SQLSTATE up by its full code, then by its class. */
export const inStateTable = (table: Record<string, string>, state: string): boolean =>
  state in table || state.slice(0, 2) in table;

/** The error's Node network code, when it has one of NETWORK_ERROR_CODES. */
export function isNetworkError(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'string' && code in NETWORK_ERROR_CODES;
}

/** How a Postgres error (warehouse or Postgres source) is retried. */
export function classifyPostgresError(error: unknown): ErrorKind {
  const state = sqlState(error);
  if (state === PROTOCOL_VIOLATION) return 'permanent';
  if (state) {
    if (inStateTable(UNREACHABLE_SQLSTATES, state)) return 'unreachable';
    return inStateTable(RETRYABLE_SQLSTATES, state) ? 'transient' : 'permanent';
  }
  if (isNetworkError(error) || PG_CONNECTION_MESSAGES.test(toError(error).message)) return 'unreachable';
  return 'unknown';
}

/** True when the (Postgres) error is transient: a retry may succeed without anybody changing anything. */
export function isTransient(error: unknown): boolean {
  const kind = classifyPostgresError(error);
  return kind === 'transient' || kind === 'unreachable';
}

export function isConnectionError(error: unknown): boolean {
  return classifyPostgresError(error) === 'unreachable';
}

/**
 * Rethrows what a database call threw, saying what was being done: transient errors stay retryable
 * (a source that cannot be reached as `SourceUnreachable`), permanent ones become non-retryable
 * ApplicationFailures of `type`, and unknown ones non-retryable `UnexpectedError`s. `classify` is the
 * database's (a source dialect's; Postgres by default). Keeps the original as the cause; Temporal's own
 * failures (an ApplicationFailure already made, a cancellation) pass through as they are.
 */
export function failure(
  error: unknown,
  doing: string,
  options: {
    type?: PipelineErrorType;
    side?: 'source' | 'warehouse';
    classify?: (error: unknown) => ErrorKind;
  } = {},
): never {
  if (error instanceof TemporalFailure) throw error;
  const type = options.type ?? 'DatabaseError';
  const cause = toError(error);
  const state = sqlState(error) ?? (error as { sqlState?: unknown })?.sqlState;
  const message = `${doing}: ${cause.message}${typeof state === 'string' ? ` (SQLSTATE ${state})` : ''}`;
  const kind = (options.classify ?? classifyPostgresError)(error);
  if (kind === 'unreachable')
    throw ApplicationFailure.create({
      message,
      type: options.side === 'source' ? 'SourceUnreachable' : 'DatabaseError',
      cause,
    });
  if (kind === 'transient') throw ApplicationFailure.create({ message, type, cause });
  if (kind === 'unknown')
    throw ApplicationFailure.create({
      message: `${message} (an error of no known kind: not retried)`,
      type: 'UnexpectedError',
      cause,
      nonRetryable: true,
    });
  throw ApplicationFailure.create({ message, type, cause, nonRetryable: true });
}

export function permanent(
  type: PipelineErrorType,
  message: string,
  details?: Record<string, unknown>,
): ApplicationFailure {
  return ApplicationFailure.create({ message, type, nonRetryable: true, details: details ? [details] : [] });
}
