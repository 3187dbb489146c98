import path from 'node:path';

/**
 * The platform's configuration, read once from the environment by `loadConfig` and passed
 * everywhere else. Nothing reads `process.env` outside this file.
 */
export interface Config {
  /** Where the embedded services keep their state (`CARTFLOW_HOME`). */
  readonly home: string;
  /** Postgres URL of the warehouse; undefined means the embedded server. */
  readonly warehouseUrl: string | undefined;
  /** Postgres URL of the demo storefront's database; undefined means the embedded server. */
  readonly shopUrl: string | undefined;
  readonly temporal: {
    /** Frontend address `host:port`; undefined means the embedded dev server. */
    readonly address: string | undefined;
    readonly namespace: string;
    /** Explicit path of the `temporal` CLI (`TEMPORAL_CLI_PATH`). */
    readonly cliPath: string | undefined;
  };
  /** `smtp://user:pass@host:port`; undefined means the embedded SMTP sink. */
  readonly smtpUrl: string | undefined;
  readonly httpPort: number;
  /** The storefront's bearer token; undefined means generate one at first start and keep it in `home`. */
  readonly ingestToken: string | undefined;
  /** A session expires after this many milliseconds without events. */
  readonly sessionIdleMs: number;
  /** The shop's IANA time zone. */
  readonly timezone: string;
  /** Ports of the embedded services. */
  readonly embedded: {
    readonly postgresPort: number;
    readonly temporalPort: number;
    readonly temporalUiPort: number;
    readonly smtpPort: number;
  };
  readonly logLevel: LogLevel;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** A variable, its default and what it means; the README and `.env.example` list the same. */
export const ENVIRONMENT = {
  CARTFLOW_HOME: 'where the embedded services keep their state (default: .cartflow/ in the project)',
  CARTFLOW_WAREHOUSE_URL: 'Postgres URL of the warehouse (default: embedded)',
  CARTFLOW_SHOP_URL: "Postgres URL of the demo storefront's database (default: embedded)",
  TEMPORAL_ADDRESS: 'Temporal frontend host:port (default: embedded dev server)',
  TEMPORAL_NAMESPACE: 'Temporal namespace (default: default)',
  TEMPORAL_CLI_PATH: 'path of the temporal CLI used for the embedded dev server',
  SMTP_URL: 'where e-mail goes, smtp://user:pass@host:587 (default: embedded SMTP sink)',
  CARTFLOW_HTTP_PORT: 'the API and dashboard (default: 3000)',
  CARTFLOW_INGEST_TOKEN: "the storefront's bearer token (default: generated and printed at first start)",
  CARTFLOW_SESSION_IDLE: 'a session expires after this long without events, e.g. 30m, 5s (default: 30m)',
  CARTFLOW_TIMEZONE: "the shop's time zone (default: UTC)",
  CARTFLOW_PG_PORT: 'port of the embedded Postgres (default: 54329)',
  CARTFLOW_TEMPORAL_PORT: 'port of the embedded Temporal frontend (default: 7233)',
  CARTFLOW_TEMPORAL_UI_PORT: 'port of the embedded Temporal Web UI (default: 8233)',
  CARTFLOW_SMTP_PORT: 'port of the embedded SMTP sink (default: 2525)',
  CARTFLOW_LOG_LEVEL: 'debug, info, warn or error (default: info)',
} as const;

export class ConfigError extends Error {
  constructor(
    readonly variable: keyof typeof ENVIRONMENT,
    problem: string,
  ) {
    super(`${variable} ${problem}. ${variable} is ${ENVIRONMENT[variable]}.`);
    this.name = 'ConfigError';
  }
}

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `500ms`, `5s`, `30m`, `24h`, `7d` into milliseconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/.exec(text);
  if (!match) return undefined;
  return Math.round(Number(match[1]) * DURATION_UNITS_MS[match[2]]);
}

type Env = Record<string, string | undefined>;

function optional(env: Env, name: keyof typeof ENVIRONMENT): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function port(env: Env, name: keyof typeof ENVIRONMENT, fallback: number): number {
  const text = optional(env, name);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > 65535) {
    throw new ConfigError(name, `must be a port number between 1 and 65535, not "${text}"`);
  }
  return value;
}

function postgresUrl(env: Env, name: keyof typeof ENVIRONMENT): string | undefined {
  const text = optional(env, name);
  if (text === undefined) return undefined;
  if (!/^postgres(ql)?:\/\//.test(text)) {
    throw new ConfigError(name, `must be a postgres:// URL, e.g. postgres://user:pass@host:5432/warehouse`);
  }
  return text;
}

/** Reads and validates the environment; throws a ConfigError naming the variable at fault. */
export function loadConfig(env: Env = process.env, projectRoot = path.resolve(__dirname, '..')): Config {
  const home = path.resolve(projectRoot, optional(env, 'CARTFLOW_HOME') ?? '.cartflow');

  const smtpUrl = optional(env, 'SMTP_URL');
  if (smtpUrl !== undefined && !/^smtps?:\/\//.test(smtpUrl)) {
    throw new ConfigError('SMTP_URL', 'must be an smtp:// or smtps:// URL, e.g. smtp://user:pass@host:587');
  }

  const idleText = optional(env, 'CARTFLOW_SESSION_IDLE') ?? '30m';
  const sessionIdleMs = parseDuration(idleText);
  if (sessionIdleMs === undefined || sessionIdleMs <= 0) {
    throw new ConfigError(
      'CARTFLOW_SESSION_IDLE',
      `must be a duration like 30m, 90s or 500ms, not "${idleText}"`,
    );
  }

  const timezone = optional(env, 'CARTFLOW_TIMEZONE') ?? 'UTC';
  try {
    new Intl.DateTimeFormat('en', { timeZone: timezone });
  } catch {
    throw new ConfigError(
      'CARTFLOW_TIMEZONE',
      `must be an IANA time zone like Europe/London, not "${timezone}"`,
    );
  }

  const logLevel = (optional(env, 'CARTFLOW_LOG_LEVEL') ?? 'info') as LogLevel;
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel)) {
    throw new ConfigError('CARTFLOW_LOG_LEVEL', `must be debug, info, warn or error, not "${logLevel}"`);
  }

  const temporalAddress = optional(env, 'TEMPORAL_ADDRESS');
  if (temporalAddress !== undefined && !/^[^\s:]+:\d+$/.test(temporalAddress)) {
    throw new ConfigError(
      'TEMPORAL_ADDRESS',
      `must be host:port, e.g. localhost:7233, not "${temporalAddress}"`,
    );
  }

  return Object.freeze({
    home,
    warehouseUrl: postgresUrl(env, 'CARTFLOW_WAREHOUSE_URL'),
    shopUrl: postgresUrl(env, 'CARTFLOW_SHOP_URL'),
    temporal: Object.freeze({
      address: temporalAddress,
      namespace: optional(env, 'TEMPORAL_NAMESPACE') ?? 'default',
      cliPath: optional(env, 'TEMPORAL_CLI_PATH'),
    }),
    smtpUrl,
    httpPort: port(env, 'CARTFLOW_HTTP_PORT', 3000),
    ingestToken: optional(env, 'CARTFLOW_INGEST_TOKEN'),
    sessionIdleMs,
    timezone,
    embedded: Object.freeze({
      postgresPort: port(env, 'CARTFLOW_PG_PORT', 54329),
      temporalPort: port(env, 'CARTFLOW_TEMPORAL_PORT', 7233),
      temporalUiPort: port(env, 'CARTFLOW_TEMPORAL_UI_PORT', 8233),
      smtpPort: port(env, 'CARTFLOW_SMTP_PORT', 2525),
    }),
    logLevel,
  });
}
