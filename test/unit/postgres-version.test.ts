import {
  assertSupportedPostgres,
  majorOf,
  MINIMUM_POSTGRES_MAJOR,
  SUPPORTED_POSTGRES_MAJORS,
} from '../../lib/postgres-version';
import { POSTGRES_RELEASES } from '../../scripts/test-postgres';

describe('supported PostgreSQL versions (lib/postgres-version.ts)', () => {
  test('15 is the oldest accepted; 14 is refused with the version found and the one needed', () => {
    expect(MINIMUM_POSTGRES_MAJOR).toBe(15);
    expect(majorOf(150012)).toBe(15);
    expect(majorOf(180004)).toBe(18);
    for (const num of [150000, 150012, 160004, 170010, 180004])
      expect(() => assertSupportedPostgres({ num, text: String(num) }, 'The warehouse')).not.toThrow();
    expect(() => assertSupportedPostgres({ num: 140023, text: '14.23' }, 'The warehouse database x')).toThrow(
      'The warehouse database x runs PostgreSQL 14.23 (server_version_num 140023); cartflow needs PostgreSQL 15 or newer (it is tested on 15, 16, 17, 18).',
    );
  });

  test('the version matrix has a release of every supported major, of that major', () => {
    expect(Object.keys(POSTGRES_RELEASES).map(Number)).toEqual([...SUPPORTED_POSTGRES_MAJORS]);
    for (const [major, release] of Object.entries(POSTGRES_RELEASES))
      expect(release.startsWith(`${major}.`)).toBe(true);
  });
});
