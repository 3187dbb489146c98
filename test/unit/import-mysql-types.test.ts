import { mysqlIdent, mysqlValueText, postgresTypeOf } from '../../extract/mysql';

const column = (
  dataType: string,
  columnType = dataType,
  precision: number | null = null,
  scale: number | null = null,
) => postgresTypeOf({ dataType, columnType, precision, scale }).type;

describe('MySQL columns as staged in Postgres', () => {
  it('gives every MySQL type a Postgres type that holds all its values', () => {
    expect(column('tinyint', 'tinyint(1)')).toBe('smallint');
    expect(column('smallint', 'smallint(5) unsigned')).toBe('integer');
    expect(column('int', 'int(10) unsigned')).toBe('bigint');
    expect(column('int', 'int(11)')).toBe('integer');
    expect(column('bigint', 'bigint(20) unsigned')).toBe('numeric(20,0)');
    expect(column('decimal', 'decimal(10,2)', 10, 2)).toBe('numeric(10,2)');
    expect(column('double')).toBe('double precision');
    expect(column('bit', 'bit(1)')).toBe('boolean');
    expect(column('datetime')).toBe('timestamp without time zone');
    expect(column('timestamp')).toBe('timestamp with time zone');
    expect(column('varchar', 'varchar(200)')).toBe('text');
    expect(column('json')).toBe('jsonb');
    expect(column('blob')).toBe('bytea');
    expect(
      postgresTypeOf({ dataType: 'enum', columnType: "enum('a','b')", precision: null, scale: null }),
    ).toEqual({
      type: 'text',
      asText: true,
    });
  });

  it('writes MySQL values as COPY text for their staged type', () => {
    const c = (type: string, mysqlType: string) => ({ name: 'x', type, asText: false, mysqlType });
    expect(mysqlValueText('2024-01-01 10:00:00.123', c('timestamp with time zone', 'timestamp'))).toBe(
      '2024-01-01 10:00:00.123+00',
    );
    expect(mysqlValueText('0000-00-00 00:00:00', c('timestamp without time zone', 'datetime'))).toBeNull();
    expect(mysqlValueText(Buffer.from([1]), c('boolean', 'bit'))).toBe('t');
    expect(mysqlValueText(Buffer.from([0x00, 0xff]), c('bytea', 'varbinary'))).toBe('\\x00ff');
    expect(mysqlValueText({ a: 1 }, c('jsonb', 'json'))).toBe('{"a":1}');
    expect(mysqlValueText(null, c('text', 'varchar'))).toBeNull();
    expect(mysqlIdent('odd`name')).toBe('`odd``name`');
  });
});
