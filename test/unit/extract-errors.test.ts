import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { classifyMysqlError } from '../../extract/mysql';
import { classifyPostgresError, failure } from '../../lib/pipeline-errors';

/** What `failure` turns an error into. */
function thrown(error: unknown, classify = classifyPostgresError): ApplicationFailure {
  try {
    failure(error, 'Loading', { side: 'source', type: 'SourceSchemaChanged', classify });
  } catch (result) {
    return result as ApplicationFailure;
  }
  throw new Error('failure() returned');
}

/** An error as each driver makes it: pg puts the SQLSTATE in `code`; mysql2 in `sqlState`, with `errno` and a name in `code`. */
const pgError = (code: string, message: string) => Object.assign(new Error(message), { code });
const mysqlError = (errno: number, sqlState: string, code: string, message: string) =>
  Object.assign(new Error(message), { errno, sqlState, code });

describe('errors, classified once per database', () => {
  it('retries what a retry may fix and stops at once on what it cannot, for Postgres', () => {
    expect(thrown(pgError('40P01', 'deadlock detected'))).toMatchObject({
      type: 'SourceSchemaChanged',
      nonRetryable: false,
    });
    expect(thrown(pgError('57P01', 'terminating connection'))).toMatchObject({ nonRetryable: false });
    expect(thrown(pgError('08006', 'connection failure'))).toMatchObject({
      type: 'SourceUnreachable',
      nonRetryable: false,
    });
    expect(thrown(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toMatchObject({
      type: 'SourceUnreachable',
      nonRetryable: false,
    });
    expect(thrown(pgError('42703', 'column "x" does not exist'))).toMatchObject({
      type: 'SourceSchemaChanged',
      nonRetryable: true,
    });
    expect(thrown(pgError('08P01', 'protocol violation')).nonRetryable).toBe(true);
  });

  it("reads MySQL's SQLSTATE from sqlState and its errno, not the name in code", () => {
    const missing = mysqlError(1146, '42S02', 'ER_NO_SUCH_TABLE', "Table 'till.nothing' doesn't exist");
    expect(classifyMysqlError(missing)).toBe('permanent');
    expect(thrown(missing, classifyMysqlError)).toMatchObject({ nonRetryable: true });
    expect(thrown(missing, classifyMysqlError).message).toMatch(/\(SQLSTATE 42S02\)/);
    expect(classifyMysqlError(mysqlError(1213, '40001', 'ER_LOCK_DEADLOCK', 'Deadlock found'))).toBe(
      'transient',
    );
    expect(classifyMysqlError(mysqlError(1205, 'HY000', 'ER_LOCK_WAIT_TIMEOUT', 'Lock wait timeout'))).toBe(
      'transient',
    );
    expect(classifyMysqlError(mysqlError(2013, 'HY000', 'CR_SERVER_LOST', 'Lost connection'))).toBe(
      'unreachable',
    );
    expect(classifyMysqlError(Object.assign(new Error('lost'), { code: 'PROTOCOL_CONNECTION_LOST' }))).toBe(
      'unreachable',
    );
    // Postgres's table cannot read it: it sees no SQLSTATE in `code`.
    expect(classifyPostgresError(missing)).toBe('unknown');
  });

  it('does not retry an error of no known kind, and says so', () => {
    const bug = thrown(new TypeError("Cannot read properties of undefined (reading 'name')"));
    expect(bug).toMatchObject({ type: 'UnexpectedError', nonRetryable: true });
    expect(bug.message).toMatch(/of no known kind: not retried/);
    expect(bug.cause?.message).toMatch(/Cannot read properties/);
  });

  it("passes Temporal's own failures through as they are", () => {
    const cancelled = new CancelledFailure('The load was cancelled');
    expect(thrown(cancelled)).toBe(cancelled);
    const typed = ApplicationFailure.create({ type: 'InvalidInput', message: 'no', nonRetryable: true });
    expect(thrown(typed)).toBe(typed);
  });
});
