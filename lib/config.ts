import fs from 'node:fs';
import path from 'node:path';
import type { BackendChoice } from '../ml/backend';
import { HOLIDAY_COUNTRIES, parseCustomHolidays, type Holiday, type HolidayCountry } from '../ml/holidays';

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
    /** Where a worker serves its Temporal SDK metrics for Prometheus; undefined for nowhere. */
    readonly workerMetricsPort: number | undefined;
  };
  /** `smtp://user:pass@host:port`; undefined means the embedded SMTP sink. */
  readonly smtpUrl: string | undefined;
  readonly httpPort: number;
  /** The storefront's bearer token; undefined means generate one at first start and keep it in `home`. */
  readonly ingestToken: string | undefined;
  /** The dashboard's sign-in token (read only); undefined means generate one and keep it in `home`. */
  readonly dashboardToken: string | undefined;
  /** A session expires after this many milliseconds without events. */
  readonly sessionIdleMs: number;
  /** The shop's IANA time zone. */
  readonly timezone: string;
  /**
   * A run warns, and `cartflow run daily` exits with status 3, when a source's quarantined order
   * lines or revenue are above this share (0 to 1) of its own; a source may set its own.
   */
  readonly quarantineThreshold: number;
  /** Ports of the embedded services. */
  readonly embedded: {
    readonly postgresPort: number;
    readonly temporalPort: number;
    readonly temporalUiPort: number;
    readonly smtpPort: number;
  };
  readonly logLevel: LogLevel;
  readonly ml: {
    /** The TensorFlow.js backend the models run on (`CARTFLOW_ML_BACKEND`), chosen by ml/backend.ts. */
    readonly backend: BackendChoice;
  };
  /** Abandoned-cart retargeting: the shop's rules, links and offers. */
  readonly carts: CartsConfig;
  /** The customer models' settings (docs/models.md). */
  readonly models: ModelsConfig;
}

export interface ModelsConfig {
  /** Months of purchases the lifetime value looks ahead. */
  readonly clvHorizonMonths: number;
  /** Monthly discount rate of the lifetime value (0.01 = 1% a month). */
  readonly clvMonthlyDiscount: number;
  /** The time unit BG/NBD's recency, age and parameters are in. */
  readonly clvTimeUnit: 'weeks' | 'days';
  /** A customer has churned after this many whole calendar months without a purchase. */
  readonly churnMonths: number;
  /** Seed of k-means' initialisation; the same seed and data give the same clusters. */
  readonly seed: number;
  /** The recommendations' settings (docs/models-recommendations.md). */
  readonly recommendations: RecommendationsConfig;
  /** The forecasts' and stock outlook's settings (docs/models-forecast.md). */
  readonly forecast: ForecastConfig;
}

export interface ForecastConfig {
  /** The country whose public holidays the forecasts learn (ISO code of ml/holidays.ts), or null for none. */
  readonly country: HolidayCountry | null;
  /** The shop's own dates (sales, closures), learnt like holidays on top of the country's (`CARTFLOW_FORECAST_HOLIDAYS`). */
  readonly customHolidays: readonly Holiday[];
  /** Daily units are forecast for this many best-selling products of the last 90 days. */
  readonly topProducts: number;
}

export interface RecommendationsConfig {
  /** Interaction weight of a purchased, carted and viewed product (summed per customer and product). */
  readonly weights: { readonly purchase: number; readonly cart: number; readonly view: number };
  /** Latent factors of the matrix factorisation, or `auto`: chosen with α on the validation split. */
  readonly factors: number | 'auto';
  /** ALS alternations. */
  readonly iterations: number;
  /**
   * α of the confidence c = 1 + α·w an interaction of weight w gets in the factorisation, or `auto`:
   * chosen each run on a validation split inside the training window.
   */
  readonly alpha: number | 'auto';
  /** A product the customer bought within this many days up to the date is not recommended to them. */
  readonly excludeDays: number;
  /** The evaluation tests on purchases in this many days up to the date and trains on what is before. */
  readonly testDays: number;
}

export interface CartsConfig {
  /** Share of customers (0..1) who never get a retargeting e-mail, for measuring its effect. */
  readonly holdoutShare: number;
  /** At most one retargeting campaign per customer within this many milliseconds. */
  readonly cooldownMs: number;
  /** The second reminder goes out this long after the first e-mail; undefined: no reminder. */
  readonly reminderDelayMs: number | undefined;
  /** A purchase within this long after the abandonment counts as recovered. */
  readonly attributionWindowMs: number;
  /** Signs unsubscribe links; undefined means generate one at first use and keep it in `home`. */
  readonly unsubscribeSecret: string | undefined;
  /** Base URL of the API as shoppers reach it, for unsubscribe links. */
  readonly publicUrl: string;
  /** The link back to the cart, with `{session}` and `{code}` filled in. */
  readonly cartUrlTemplate: string;
  /** The From address of retargeting e-mails; its domain also names Message-IDs. */
  readonly mailFrom: string;
  /** Carts worth at least this much get a percentage off instead of free shipping. */
  readonly highValueThreshold: number;
  /** The percentage off for high-value carts. */
  readonly highValuePercent: number;
  /** The shop's currency (ISO 4217, e.g. EUR), as cart values are in it: e-mails show prices in it. */
  readonly currency: string;
  /**
   * Live carts a worker keeps in memory. A cart that is not in memory is rebuilt from its whole history
   * for each event it gets, which costs the worker and the Temporal server several times more.
   */
  readonly workerCacheSize: number;
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
  CARTFLOW_DASHBOARD_TOKEN:
    "the dashboard's read-only sign-in token, not the storefront's (default: generated into CARTFLOW_HOME/dashboard-token)",
  CARTFLOW_SESSION_IDLE: 'a session expires after this long without events, e.g. 30m, 5s (default: 30m)',
  CARTFLOW_TIMEZONE: "the shop's time zone (default: UTC)",
  CARTFLOW_QUARANTINE_THRESHOLD:
    "a run warns (and cartflow run daily exits with 3) when a source's quarantined lines or revenue are above this share of its own, 0 to 1 or 0% to 100% (default: 1%)",
  CARTFLOW_PG_PORT: 'port of the embedded Postgres (default: 54329)',
  CARTFLOW_TEMPORAL_PORT: 'port of the embedded Temporal frontend (default: 7233)',
  CARTFLOW_TEMPORAL_UI_PORT: 'port of the embedded Temporal Web UI (default: 8233)',
  CARTFLOW_SMTP_PORT: 'port of the embedded SMTP sink (default: 2525)',
  CARTFLOW_LOG_LEVEL: 'debug, info, warn or error (default: info)',
  CARTFLOW_ML_BACKEND:
    'the TensorFlow.js backend of the models: auto (native TensorFlow when `npm run setup:tensorflow` installed it, else WASM), native or wasm (default: auto)',
  CARTFLOW_WORKER_METRICS_PORT:
    'a worker serves its Temporal SDK metrics (pollers, task slots, schedule-to-start and execution latencies, cache) for Prometheus on this port, at /metrics on every interface (default: off)',
  CARTFLOW_HOLDOUT_SHARE:
    'share of customers who get no retargeting e-mail, to measure its effect, 0 to 0.5 or 0% to 50% (default: 10%)',
  CARTFLOW_RETARGET_COOLDOWN: 'at most one retargeting campaign per customer within this long (default: 7d)',
  CARTFLOW_REMINDER_DELAY:
    'the second reminder goes out this long after the first e-mail, or off (default: 24h)',
  CARTFLOW_ATTRIBUTION_WINDOW:
    'a purchase this long after an abandonment counts as recovered revenue (default: 7d)',
  CARTFLOW_UNSUBSCRIBE_SECRET:
    'signs unsubscribe links, at least 16 characters (default: generated and kept under CARTFLOW_HOME)',
  CARTFLOW_PUBLIC_URL:
    'the API as shoppers reach it, for unsubscribe links in e-mails (default: http://localhost:<CARTFLOW_HTTP_PORT>)',
  CARTFLOW_CART_URL:
    'the link back to the cart in e-mails, with {session} and {code} (default: <CARTFLOW_PUBLIC_URL>/cart/{session}?code={code})',
  CARTFLOW_MAIL_FROM:
    'the From address of retargeting e-mails (default: Cartflow Shop <shop@cartflow.localhost>)',
  CARTFLOW_OFFER_HIGH_VALUE:
    'carts worth at least this get a percentage off instead of free shipping (default: 200)',
  CARTFLOW_OFFER_PERCENT: 'the percentage off for high-value carts, 1 to 90 (default: 10)',
  CARTFLOW_CURRENCY:
    "the shop's currency, an ISO 4217 code such as EUR or USD; e-mails show prices in it (default: EUR)",
  CARTFLOW_CART_CACHE:
    'live carts a carts worker keeps in memory, at least the carts open at once at the busiest hour (default: 20000)',
  CARTFLOW_CLV_HORIZON: 'months of purchases the lifetime value looks ahead, 1 to 120 (default: 12)',
  CARTFLOW_CLV_DISCOUNT: 'monthly discount rate of the lifetime value, 0 to 0.5 or 0% to 50% (default: 1%)',
  CARTFLOW_CLV_TIME_UNIT: "BG/NBD's time unit, weeks or days (default: weeks)",
  CARTFLOW_CHURN_MONTHS:
    'a customer has churned after this many whole calendar months without a purchase, 1 to 24 (default: 2)',
  CARTFLOW_MODELS_SEED: "seed of the models' random initialisation, a whole number (default: 1)",
  CARTFLOW_RECOMMEND_WEIGHTS:
    'interaction weights of the recommendations, purchase:W,cart:W,view:W with W from 0 to 100 and purchase above 0 (default: purchase:1,cart:0.5,view:0.1)',
  CARTFLOW_RECOMMEND_FACTORS:
    'latent factors of the recommendations: auto (chosen each run from 32 and 64 with α, see CARTFLOW_RECOMMEND_ALPHA) or a whole number from 1 to 256 (default: auto)',
  CARTFLOW_RECOMMEND_ITERATIONS: "the recommendations' ALS iterations, 1 to 100 (default: 15)",
  CARTFLOW_RECOMMEND_ALPHA:
    "α of the confidence 1 + α·weight of an interaction in the factorisation: auto (chosen each run from 0.3, 1, 3 and 10, with the factors, on the CARTFLOW_RECOMMEND_TEST_DAYS days before the evaluation's, see docs/models-recommendations.md) or a number above 0 and at most 1000 (default: auto)",
  CARTFLOW_RECOMMEND_EXCLUDE_DAYS:
    'a product bought within this many days is not recommended to the same customer, 0 to 3650 (default: 90)',
  CARTFLOW_RECOMMEND_TEST_DAYS:
    "the recommendations' evaluation tests on the purchases of this many days up to the date, 1 to 365 (default: 28)",
  CARTFLOW_FORECAST_COUNTRY:
    "the shop's country for the forecasts' public holidays: GB, DE, US, FR or none (default: GB)",
  CARTFLOW_FORECAST_HOLIDAYS:
    "the shop's own dates the forecasts learn as holidays, added to the country's (with CARTFLOW_FORECAST_COUNTRY=none instead of them): Name=YYYY-MM-DD[,YYYY-MM-DD|YYYY-MM-DD..YYYY-MM-DD…] entries separated by ;, or @file (relative to the project) with one entry a line (default: none)",
  CARTFLOW_FORECAST_PRODUCTS:
    'daily units are forecast for this many best sellers of the last 90 days, 0 to 1000 (default: 50)',
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

  const httpPort = port(env, 'CARTFLOW_HTTP_PORT', 3000);

  return Object.freeze({
    home,
    warehouseUrl: postgresUrl(env, 'CARTFLOW_WAREHOUSE_URL'),
    shopUrl: postgresUrl(env, 'CARTFLOW_SHOP_URL'),
    temporal: Object.freeze({
      address: temporalAddress,
      namespace: optional(env, 'TEMPORAL_NAMESPACE') ?? 'default',
      cliPath: optional(env, 'TEMPORAL_CLI_PATH'),
      workerMetricsPort:
        optional(env, 'CARTFLOW_WORKER_METRICS_PORT') === undefined
          ? undefined
          : port(env, 'CARTFLOW_WORKER_METRICS_PORT', 0),
    }),
    smtpUrl,
    httpPort,
    ingestToken: optional(env, 'CARTFLOW_INGEST_TOKEN'),
    dashboardToken: optional(env, 'CARTFLOW_DASHBOARD_TOKEN'),
    sessionIdleMs,
    timezone,
    quarantineThreshold: quarantineThreshold(env),
    embedded: Object.freeze({
      postgresPort: port(env, 'CARTFLOW_PG_PORT', 54329),
      temporalPort: port(env, 'CARTFLOW_TEMPORAL_PORT', 7233),
      temporalUiPort: port(env, 'CARTFLOW_TEMPORAL_UI_PORT', 8233),
      smtpPort: port(env, 'CARTFLOW_SMTP_PORT', 2525),
    }),
    logLevel,
    ml: Object.freeze({ backend: mlBackend(env) }),
    carts: cartsConfig(env, httpPort),
    models: modelsConfig(env, projectRoot),
  });
}

function modelsConfig(env: Env, projectRoot: string): ModelsConfig {
  const discountText = optional(env, 'CARTFLOW_CLV_DISCOUNT') ?? '1%';
  const discountMatch = /^(\d+(?:\.\d+)?)(%?)$/.exec(discountText);
  const clvMonthlyDiscount = discountMatch ? Number(discountMatch[1]) / (discountMatch[2] ? 100 : 1) : NaN;
  if (!(clvMonthlyDiscount >= 0 && clvMonthlyDiscount <= 0.5)) {
    throw new ConfigError(
      'CARTFLOW_CLV_DISCOUNT',
      `must be a rate from 0 to 0.5, or a percentage from 0% to 50%, not "${discountText}"`,
    );
  }
  const clvTimeUnit = optional(env, 'CARTFLOW_CLV_TIME_UNIT') ?? 'weeks';
  if (clvTimeUnit !== 'weeks' && clvTimeUnit !== 'days') {
    throw new ConfigError('CARTFLOW_CLV_TIME_UNIT', `must be weeks or days, not "${clvTimeUnit}"`);
  }
  const whole = (name: keyof typeof ENVIRONMENT, fallback: number, min: number, max: number) => {
    const text = optional(env, name);
    if (text === undefined) return fallback;
    const value = /^-?\d+$/.test(text) ? Number(text) : NaN;
    if (!(value >= min && value <= max))
      throw new ConfigError(name, `must be a whole number from ${min} to ${max}, not "${text}"`);
    return value;
  };
  return Object.freeze({
    clvHorizonMonths: whole('CARTFLOW_CLV_HORIZON', 12, 1, 120),
    clvMonthlyDiscount,
    clvTimeUnit,
    churnMonths: whole('CARTFLOW_CHURN_MONTHS', 2, 1, 24),
    seed: whole('CARTFLOW_MODELS_SEED', 1, 0, 2 ** 31 - 1),
    recommendations: Object.freeze({
      weights: recommendationWeights(env),
      factors:
        (optional(env, 'CARTFLOW_RECOMMEND_FACTORS') ?? 'auto') === 'auto'
          ? 'auto'
          : whole('CARTFLOW_RECOMMEND_FACTORS', 32, 1, 256),
      iterations: whole('CARTFLOW_RECOMMEND_ITERATIONS', 15, 1, 100),
      alpha: recommendationAlpha(env),
      excludeDays: whole('CARTFLOW_RECOMMEND_EXCLUDE_DAYS', 90, 0, 3650),
      testDays: whole('CARTFLOW_RECOMMEND_TEST_DAYS', 28, 1, 365),
    }),
    forecast: Object.freeze({
      country: forecastCountry(env),
      customHolidays: Object.freeze(customHolidays(env, projectRoot)),
      topProducts: whole('CARTFLOW_FORECAST_PRODUCTS', 50, 0, 1000),
    }),
  });
}

function customHolidays(env: Env, projectRoot: string): Holiday[] {
  const name = 'CARTFLOW_FORECAST_HOLIDAYS';
  const text = optional(env, name) ?? '';
  let list = text;
  if (text.startsWith('@')) {
    const file = path.resolve(projectRoot, text.slice(1));
    try {
      list = fs.readFileSync(file, 'utf8');
    } catch (error) {
      throw new ConfigError(
        name,
        `names the file ${file}, which cannot be read: ${(error as Error).message}`,
      );
    }
  }
  try {
    return parseCustomHolidays(list);
  } catch (error) {
    throw new ConfigError(name, `is not a list of the shop's dates: ${(error as Error).message}`);
  }
}

function forecastCountry(env: Env): ForecastConfig['country'] {
  const text = (optional(env, 'CARTFLOW_FORECAST_COUNTRY') ?? 'GB').toUpperCase();
  if (text === 'NONE') return null;
  if (!(HOLIDAY_COUNTRIES as readonly string[]).includes(text))
    throw new ConfigError(
      'CARTFLOW_FORECAST_COUNTRY',
      `must be ${HOLIDAY_COUNTRIES.join(', ')} or none, not "${text}"`,
    );
  return text as HolidayCountry;
}

function recommendationAlpha(env: Env): number | 'auto' {
  const text = optional(env, 'CARTFLOW_RECOMMEND_ALPHA');
  if (text === undefined || text === 'auto') return 'auto';
  const alpha = /^\d+(?:\.\d+)?$/.test(text) ? Number(text) : NaN;
  if (!(alpha > 0 && alpha <= 1000))
    throw new ConfigError(
      'CARTFLOW_RECOMMEND_ALPHA',
      `must be auto or a number above 0 and at most 1000, not "${text}"`,
    );
  return alpha;
}

function recommendationWeights(env: Env): RecommendationsConfig['weights'] {
  const name = 'CARTFLOW_RECOMMEND_WEIGHTS';
  const text = optional(env, name);
  const weights = { purchase: 1, cart: 0.5, view: 0.1 };
  if (text === undefined) return Object.freeze(weights);
  for (const part of text.split(',')) {
    const match = /^\s*(purchase|cart|view)\s*[:=]\s*(\d+(?:\.\d+)?)\s*$/.exec(part);
    if (!match || Number(match[2]) > 100)
      throw new ConfigError(name, `must be like purchase:1,cart:0.5,view:0.1, and "${part.trim()}" is not`);
    weights[match[1] as keyof typeof weights] = Number(match[2]);
  }
  if (!(weights.purchase > 0)) throw new ConfigError(name, 'must give purchases a weight above 0');
  return Object.freeze(weights);
}

function duration(env: Env, name: keyof typeof ENVIRONMENT, fallback: string): number {
  const text = optional(env, name) ?? fallback;
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0) {
    throw new ConfigError(name, `must be a duration like 30m, 24h or 7d, not "${text}"`);
  }
  return ms;
}

function decimal(
  env: Env,
  name: keyof typeof ENVIRONMENT,
  fallback: number,
  min: number,
  max: number,
): number {
  const text = optional(env, name);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new ConfigError(name, `must be a number from ${min} to ${max}, not "${text}"`);
  }
  return value;
}

function httpUrl(env: Env, name: keyof typeof ENVIRONMENT): string | undefined {
  const text = optional(env, name);
  if (text === undefined) return undefined;
  if (!/^https?:\/\/[^\s/]+/.test(text)) {
    throw new ConfigError(
      name,
      `must be an http:// or https:// URL, e.g. https://shop.example.com, not "${text}"`,
    );
  }
  return text;
}

function quarantineThreshold(env: Env): number {
  const text = optional(env, 'CARTFLOW_QUARANTINE_THRESHOLD') ?? '1%';
  const match = /^(\d+(?:\.\d+)?)(%?)$/.exec(text);
  const share = match ? Number(match[1]) / (match[2] ? 100 : 1) : NaN;
  if (!(share >= 0 && share <= 1))
    throw new ConfigError(
      'CARTFLOW_QUARANTINE_THRESHOLD',
      `must be a share from 0 to 1, or a percentage from 0% to 100%, not "${text}"`,
    );
  return share;
}

const ML_BACKENDS: readonly BackendChoice[] = ['auto', 'native', 'wasm'];

function mlBackend(env: Env): BackendChoice {
  const text = optional(env, 'CARTFLOW_ML_BACKEND') ?? 'auto';
  if (!(ML_BACKENDS as readonly string[]).includes(text)) {
    throw new ConfigError(
      'CARTFLOW_ML_BACKEND',
      `must be auto, native or wasm, not "${text}" (native needs \`npm run setup:tensorflow\` first)`,
    );
  }
  return text as BackendChoice;
}

function cartsConfig(env: Env, httpPort: number): CartsConfig {
  const holdoutText = optional(env, 'CARTFLOW_HOLDOUT_SHARE') ?? '10%';
  const holdoutMatch = /^(\d+(?:\.\d+)?)(%?)$/.exec(holdoutText);
  const holdoutShare = holdoutMatch ? Number(holdoutMatch[1]) / (holdoutMatch[2] ? 100 : 1) : NaN;
  if (!(holdoutShare >= 0 && holdoutShare <= 0.5)) {
    throw new ConfigError(
      'CARTFLOW_HOLDOUT_SHARE',
      `must be a share from 0 to 0.5, or a percentage from 0% to 50%, not "${holdoutText}"`,
    );
  }

  const reminderText = optional(env, 'CARTFLOW_REMINDER_DELAY') ?? '24h';
  const reminderDelayMs = reminderText === 'off' ? undefined : parseDuration(reminderText);
  if (reminderText !== 'off' && (reminderDelayMs === undefined || reminderDelayMs <= 0)) {
    throw new ConfigError(
      'CARTFLOW_REMINDER_DELAY',
      `must be a duration like 24h or 90m, or off, not "${reminderText}"`,
    );
  }

  const unsubscribeSecret = optional(env, 'CARTFLOW_UNSUBSCRIBE_SECRET');
  if (unsubscribeSecret !== undefined && unsubscribeSecret.length < 16) {
    throw new ConfigError('CARTFLOW_UNSUBSCRIBE_SECRET', 'must be at least 16 characters long');
  }

  const publicUrl = (httpUrl(env, 'CARTFLOW_PUBLIC_URL') ?? `http://localhost:${httpPort}`).replace(
    /\/+$/,
    '',
  );
  const cartUrlTemplate = httpUrl(env, 'CARTFLOW_CART_URL') ?? `${publicUrl}/cart/{session}?code={code}`;
  if (!cartUrlTemplate.includes('{session}')) {
    throw new ConfigError('CARTFLOW_CART_URL', `must contain {session}, not "${cartUrlTemplate}"`);
  }

  const mailFrom = optional(env, 'CARTFLOW_MAIL_FROM') ?? 'Cartflow Shop <shop@cartflow.localhost>';
  if (!/^(?:[^<>]*<)?[^\s@<>]+@[^\s@<>]+\.?[^\s@<>]*>?$/.test(mailFrom)) {
    throw new ConfigError(
      'CARTFLOW_MAIL_FROM',
      `must be an e-mail address, optionally with a name: Shop <shop@example.com>, not "${mailFrom}"`,
    );
  }

  const currency = (optional(env, 'CARTFLOW_CURRENCY') ?? 'EUR').toUpperCase();
  if (!Intl.supportedValuesOf('currency').includes(currency)) {
    throw new ConfigError(
      'CARTFLOW_CURRENCY',
      `must be an ISO 4217 currency code such as EUR or USD, not "${currency}"`,
    );
  }

  return Object.freeze({
    holdoutShare,
    cooldownMs: duration(env, 'CARTFLOW_RETARGET_COOLDOWN', '7d'),
    reminderDelayMs,
    attributionWindowMs: duration(env, 'CARTFLOW_ATTRIBUTION_WINDOW', '7d'),
    unsubscribeSecret,
    publicUrl,
    cartUrlTemplate,
    mailFrom,
    highValueThreshold: decimal(env, 'CARTFLOW_OFFER_HIGH_VALUE', 200, 0, 1_000_000_000),
    highValuePercent: decimal(env, 'CARTFLOW_OFFER_PERCENT', 10, 1, 90),
    currency,
    workerCacheSize: Math.round(decimal(env, 'CARTFLOW_CART_CACHE', 20_000, 2, 1_000_000)),
  });
}
