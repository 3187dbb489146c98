/**
 * The PostgreSQL versions cartflow runs on: every major still supported upstream. The version matrix
 * (`npm run test:postgres -- <major>`) tests each; an older server is refused at start-up, by name.
 */
export const SUPPORTED_POSTGRES_MAJORS = [15, 16, 17, 18] as const;
export const MINIMUM_POSTGRES_MAJOR = SUPPORTED_POSTGRES_MAJORS[0];

/** What a server says of itself: `server_version_num` (e.g. 150012) and `server_version` (e.g. "15.12"). */
export interface PostgresVersion {
  num: number;
  text: string;
}

/** The SQL that reads a PostgresVersion (columns `num` and `text`). */
export const POSTGRES_VERSION_SQL = `select current_setting('server_version_num')::int as num, current_setting('server_version') as text`;

/** The major version of a `server_version_num` (150012 → 15). */
export const majorOf = (num: number): number => Math.floor(num / 10_000);

/** Throws, naming the server, the version found and the one needed, when `version` is older than supported. */
export function assertSupportedPostgres(version: PostgresVersion, what: string): void {
  if (majorOf(version.num) >= MINIMUM_POSTGRES_MAJOR) return;
  throw new Error(
    `${what} runs PostgreSQL ${version.text} (server_version_num ${version.num}); cartflow needs PostgreSQL ` +
      `${MINIMUM_POSTGRES_MAJOR} or newer (it is tested on ${SUPPORTED_POSTGRES_MAJORS.join(', ')}).`,
  );
}
