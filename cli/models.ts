import { InvalidArgumentError, type Command } from 'commander';
import fs from 'node:fs';
import type pg from 'pg';
import { exportMart } from '../lib/mart-export';
import { MODELS, MARTS, type ModelName } from '../contracts/model-summary';
import { describeForecast, describeStock } from './models-forecast';
import type { HyperparameterSetting } from '../activities/models/recommendations';
import type { CliContext } from './context';
import { calendarDate } from './run';

interface ModelVersionRow {
  version_id: number;
  model: string;
  as_of: string;
  status: string;
  parameters: Record<string, unknown>;
  metrics: Record<string, unknown>;
  training_rows: number;
  output_rows: number;
  duration_ms: number;
  backend: string;
  code_version: string;
  run_id: string | null;
  error: string | null;
  created_at: string;
}

const VERSION_COLUMNS = `version_id, model, to_char(as_of, 'YYYY-MM-DD') as as_of, status, parameters, metrics,
  training_rows, output_rows, duration_ms, backend, code_version, run_id, error,
  to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as created_at`;

function modelName(text: string): ModelName {
  if (!(MODELS as readonly string[]).includes(text))
    throw new InvalidArgumentError(`"${text}" is not a model: use one of ${MODELS.join(', ')}.`);
  return text as ModelName;
}

function martName(text: string): keyof typeof MARTS {
  const name = text.replace(/^mart\./, '');
  if (!(name in MARTS))
    throw new InvalidArgumentError(`"${text}" is not a mart: use one of ${Object.keys(MARTS).join(', ')}.`);
  return name as keyof typeof MARTS;
}

/** The latest successful fit of `model` (for `date`, when given). */
export async function findModelVersion(
  db: pg.Pool,
  model: ModelName,
  date: string | undefined,
): Promise<ModelVersionRow | undefined> {
  const { rows } = await db.query<ModelVersionRow>(
    `select ${VERSION_COLUMNS} from ops.model_versions
      where model = $1 and status = 'succeeded' and ($2::date is null or as_of = $2::date)
      order by as_of desc, version_id desc limit 1`,
    [model, date ?? null],
  );
  return rows[0];
}

const fixed = (value: unknown, digits: number) =>
  typeof value === 'number' ? value.toFixed(digits) : String(value ?? '—');

/** The model-specific lines of `models show`: what an analyst reads first. */
function describeFit(version: ModelVersionRow): string[] {
  const p = version.parameters;
  const m = version.metrics;
  switch (version.model) {
    case 'rfm': {
      const segments = (m.segments ?? {}) as Record<string, number>;
      return [
        `customers: ${String(m.customers)}`,
        'segments:',
        ...Object.entries(segments).map(([name, size]) => `  ${name.padEnd(20)} ${String(size).padStart(8)}`),
      ];
    }
    case 'clusters': {
      const candidates = (m.candidates ?? []) as { k: number; inertia: number; silhouette: number }[];
      const clusters = (m.clusters ?? []) as { cluster: number; name: string; size: number }[];
      return [
        `k: ${String(m.k)} (by silhouette over ${candidates.map((c) => c.k).join(', ')})`,
        `inertia: ${fixed(m.inertia, 3)}, silhouette: ${fixed(m.silhouette, 4)}`,
        'candidates:',
        ...candidates.map(
          (c) =>
            `  k ${String(c.k).padStart(2)}  inertia ${fixed(c.inertia, 3).padStart(14)}  silhouette ${fixed(c.silhouette, 4)}`,
        ),
        'clusters:',
        ...clusters.map((c) => `  ${c.cluster}  ${c.name.padEnd(40)} ${String(c.size).padStart(8)}`),
      ];
    }
    case 'growth':
      return [`months: ${String(m.months)}, churn after ${String(p.churnMonths)} months without a purchase`];
    case 'clv': {
      const bg = (p.bgNbd ?? {}) as Record<string, number>;
      const gg = (p.gammaGamma ?? {}) as Record<string, number>;
      const unit = String(p.timeUnit);
      return [
        `BG/NBD (time in ${unit}): r ${fixed(bg.r, 4)}, alpha ${fixed(bg.alpha, 4)} ${unit}, a ${fixed(bg.a, 4)}, b ${fixed(bg.b, 4)}` +
          ` (log-likelihood ${fixed(m.bgNbdLogLikelihood, 2)})`,
        `Gamma-Gamma: p ${fixed(gg.p, 4)}, q ${fixed(gg.q, 4)}, gamma ${fixed(gg.gamma, 4)}` +
          ` (log-likelihood ${fixed(m.gammaGammaLogLikelihood, 2)})`,
        `customers: ${String(m.customers)}, with a repeat purchase: ${String(m.repeatCustomers)}`,
        `CLV: ${String(p.horizonMonths)} months ahead, discounted ${fixed(Number(p.monthlyDiscount) * 100, 2)}% a month`,
      ];
    }
    case 'recommendations': {
      const evaluation = (m.evaluation ?? {}) as Record<
        string,
        { k: number; customers: number } & Record<string, { hr: number; ndcg: number }>
      >;
      const weights = (p.weights ?? {}) as Record<string, number>;
      const methods = ['factorisation', 'cooccurrence', 'blend', 'popular'] as const;
      return [
        `customers: ${String(m.customers)}, products: ${String(m.products)}`,
        `ALS: ${String(p.factors)} factors, ${String(p.iterations)} iterations, alpha ${String(p.alpha)}, lambda ${String(p.regularization)};` +
          ` weights purchase ${String(weights.purchase)}, cart ${String(weights.cart)}, view ${String(weights.view)}`,
        `bought in the last ${String(p.excludeDays)} days not recommended; ${String(p.stock)}`,
        ...Object.entries((p.hyperparameters ?? {}) as Record<string, HyperparameterSetting>).flatMap(
          ([source, h]) =>
            h.how === 'configured'
              ? [`${source}: ${h.factors} factors, alpha ${h.alpha}, as configured`]
              : h.how === 'fallback'
                ? [`${source}: ${h.factors} factors, alpha ${h.alpha}, not tuned: ${h.reason}`]
                : [
                    `${source}: ${h.factors} factors, alpha ${h.alpha}, chosen on ${h.customers} validation customers (the ${String(p.testDays)} days before ${String(p.split)}):`,
                    ...h.tried.map(
                      (t) =>
                        `  ${String(t.factors).padStart(3)} factors, alpha ${String(t.alpha).padEnd(6)} HR@10 ${fixed(t.hr, 4)}  NDCG@10 ${fixed(t.ndcg, 4)}` +
                        (t.alpha === h.alpha && t.factors === h.factors ? '  chosen' : ''),
                    ),
                  ],
        ),
        ...Object.entries(evaluation).flatMap(([source, e]) => [
          `evaluation of ${source}: trained up to ${String(p.split)}, tested on ${e.customers} customers' new purchases of the ${String(p.testDays)} days after`,
          ...methods.map(
            (method) =>
              `  ${method.padEnd(14)} HR@${e.k} ${fixed(e[method].hr, 4)}  NDCG@${e.k} ${fixed(e[method].ndcg, 4)}`,
          ),
        ]),
      ];
    }
    case 'forecast':
      return describeForecast(p, m);
    case 'stock':
      return describeStock(p, m);
    default:
      return [];
  }
}

export function formatModelVersion(version: ModelVersionRow): string {
  return [
    `${version.model} as of ${version.as_of}: version ${version.version_id}, ${version.status}`,
    `fitted ${version.created_at} in ${(version.duration_ms / 1000).toFixed(1)} s on ${version.backend}` +
      ` (code ${version.code_version}${version.run_id ? `, run ${version.run_id}` : ''})`,
    `training rows: ${version.training_rows}, rows written: ${version.output_rows}`,
    ...describeFit(version),
  ].join('\n');
}

/**
 * `cartflow models list | show <model> [--date D] [--json]` and `cartflow export <mart> [--date D]
 * [--format csv|jsonl] [--output FILE]`.
 */
export function registerModelCommands(program: Command, context: CliContext): void {
  const models = program.command('models').description('the fitted models: versions, parameters and metrics');

  models
    .command('list')
    .description('the latest fit of every model, and how many dates each has')
    .option('--json', 'print JSON, for scripts')
    .action(async (options: { json?: boolean }) => {
      const { rows } = await context.warehouse().query<ModelVersionRow & { dates: number; failures: number }>(
        `select distinct on (model) ${VERSION_COLUMNS},
                count(*) filter (where status = 'succeeded') over (partition by model) as dates,
                count(*) filter (where status = 'failed') over (partition by model) as failures
           from ops.model_versions order by model, (status = 'succeeded') desc, as_of desc, version_id desc`,
      );
      if (options.json) {
        process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
        return;
      }
      if (rows.length === 0) {
        process.stdout.write(
          'No model has been fitted yet: `cartflow run daily` fits them after the star schema.\n',
        );
        return;
      }
      for (const r of rows)
        process.stdout.write(
          `${r.model.padEnd(10)} as of ${r.as_of}  version ${String(r.version_id).padEnd(6)} ${r.status.padEnd(9)} ` +
            `${String(r.output_rows).padStart(8)} rows  ${(r.duration_ms / 1000).toFixed(1).padStart(6)} s  ${r.backend}` +
            `  (${r.dates} fits${r.failures ? `, ${r.failures} failed` : ''})\n`,
        );
    });

  models
    .command('show')
    .description("one model's latest fit (or that date's): parameters, metrics, backend")
    .argument('<model>', MODELS.join(' | '), modelName)
    .option('--date <YYYY-MM-DD>', 'the logical date of the fit (default: the latest)', calendarDate)
    .option('--json', 'print JSON, for scripts')
    .action(async (model: ModelName, options: { date?: string; json?: boolean }) => {
      const version = await findModelVersion(context.warehouse(), model, options.date);
      if (!version) {
        process.stderr.write(
          `No successful ${model} fit${options.date ? ` for ${options.date}` : ''}: run \`cartflow run daily${
            options.date ? ` --date ${options.date}` : ''
          }\` to fit it.\n`,
        );
        process.exitCode = 1;
        return;
      }
      if (options.json) {
        // The metrics' headline figures also at the top, e.g. `k`, `inertia`, `silhouette` for clusters.
        process.stdout.write(JSON.stringify({ ...version.metrics, ...version }, null, 2) + '\n');
        return;
      }
      process.stdout.write(formatModelVersion(version) + '\n');
    });

  program
    .command('export')
    .description('stream a mart as CSV or JSON lines, for a spreadsheet or a notebook')
    .argument('<mart>', Object.keys(MARTS).join(' | '), martName)
    .option('--date <YYYY-MM-DD>', 'the logical date (default: the latest the mart has)', calendarDate)
    .option('--format <format>', 'csv or jsonl', 'csv')
    .option('--output <file>', 'write to this file instead of standard output')
    .action(async (mart: keyof typeof MARTS, options: { date?: string; format: string; output?: string }) => {
      if (options.format !== 'csv' && options.format !== 'jsonl')
        throw new InvalidArgumentError(`--format must be csv or jsonl, not "${options.format}".`);
      const db = context.warehouse();
      const table = `mart.${mart}`;
      const { rows } = await db.query<{ as_of: string | null }>(
        `select to_char(coalesce($1::date, max(as_of)), 'YYYY-MM-DD') as as_of from ${table}
          where $1::date is null or as_of = $1::date`,
        [options.date ?? null],
      );
      const asOf = rows[0]?.as_of;
      if (!asOf) {
        process.stderr.write(
          `mart.${mart} has no rows${options.date ? ` for ${options.date}` : ''}: run \`cartflow run daily\` to fit ${MARTS[mart]}.\n`,
        );
        process.exitCode = 1;
        return;
      }
      await exportMart(
        db,
        table,
        asOf,
        options.format,
        options.output ? fs.createWriteStream(options.output) : process.stdout,
      );
    });
}
