/**
 * The daily pipeline's summary: what a run did, small enough for workflow history and the Temporal
 * UI, and stored in `ops.pipeline_runs.summary`. Pure: the workflow builds it, the CLI prints it.
 */
import { formatMoney } from './money';
import { formatModelStep, type ModelStepResult } from './model-summary';

export interface TableLoadSummary {
  source: string;
  table: string;
  mode: 'full' | 'incremental' | 'unchanged';
  rows: number;
  /** Chunks (full) or batches (incremental) the rows came in. */
  pieces: number;
  notes: string[];
  /** From the start of the table's first piece to the end of its last (absent when nothing was loaded). */
  durationMs?: number;
}

export interface TransformSummary {
  source: string;
  /** Canonical rows mapped, per entity. */
  mapped: Record<string, number>;
  /** Rows quarantined by this run, per entity and rule. */
  quarantined: { entity: string; rule: string; rows: number }[];
  customers: { new: number; newVersions: number; overwritten: number };
  products: { new: number; newVersions: number; overwritten: number };
  orderLines: { inserted: number; updated: number; deleted: number };
  payments: { inserted: number; updated: number; deleted: number };
  /** core.fact_order: one row per order (absent in summaries of runs before it existed). */
  orders?: { inserted: number; updated: number; deleted: number };
  /** The whole transform of the source, as the run saw it. */
  durationMs?: number;
  /** Each mapping select's time, per entity: where a slow mapping shows. */
  mappingMs?: Record<string, number>;
  /** Each statement's time, by step name (summed when a step repeats): for benchmarks and debugging. */
  stepsMs?: Record<string, number>;
  /** Which transform ran (docs/pipeline.md): all of the source, its changed keys only, or nothing. */
  path?: { kind: 'full' | 'scoped' | 'unchanged'; reason: string };
}

export interface ReconciliationSummary {
  source: string;
  days: number;
  mismatchedDays: number;
  /** The source changed after its extract, so differences are not conclusive; the next run checks again. */
  unsettled: boolean;
  source_lines: number;
  source_amount: string;
  warehouse_lines: number;
  warehouse_amount: string;
  quarantined_lines: number;
  quarantined_amount: string;
  /**
   * Set when the quarantined share of the source's lines or revenue is above the threshold
   * (CARTFLOW_QUARANTINE_THRESHOLD, or the source's quarantineThreshold): what and how much.
   */
  quarantineWarning?: string;
  durationMs?: number;
  /** How the days were checked: by whole-source totals, the changed days counted, or every day counted. */
  checked?: string;
  /** Up to ten differing days, for the reader. */
  differences: {
    day: string;
    source_lines: number;
    source_amount: string;
    warehouse_lines: number;
    warehouse_amount: string;
  }[];
}

/** A source whose extract, transform or reconciliation failed; the other sources went on without it. */
export interface SourceFailure {
  source: string;
  step: 'extract' | 'transform' | 'reconcile';
  error: string;
  /** The failure's type (`MappingFailed`, `ReconciliationMismatch`, …), when it has one. */
  type?: string;
}

export interface PipelineSummary {
  date: string;
  /** `partial`: some sources failed (see `failures`), the others landed; `failed`: none landed. */
  status: 'running' | 'succeeded' | 'partial' | 'failed';
  startedAt: string;
  finishedAt?: string;
  durationMs?: number;
  loads: TableLoadSummary[];
  transforms: TransformSummary[];
  reconciliations: ReconciliationSummary[];
  /** Rows quarantined per rule, over all sources and entities. */
  quarantinedByRule: Record<string, number>;
  /** The sources that failed, and at which step. */
  failures?: SourceFailure[];
  /** The customer models fitted after the star schema (docs/models.md), one result each. */
  models?: ModelStepResult[];
  error?: string;
}

export function quarantinedByRule(transforms: TransformSummary[]): Record<string, number> {
  const totals: Record<string, number> = {};
  for (const t of transforms) for (const q of t.quarantined) totals[q.rule] = (totals[q.rule] ?? 0) + q.rows;
  return totals;
}

const n = (value: number | null | undefined) => (value ?? 0).toLocaleString('en-US');

function duration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** One line, for the Temporal UI's summary and progress bars. */
export function oneLineSummary(summary: PipelineSummary): string {
  const rows = summary.loads.reduce((sum, l) => sum + l.rows, 0);
  const quarantined = Object.values(summary.quarantinedByRule).reduce((a, b) => a + b, 0);
  const lines = summary.transforms.reduce((sum, t) => sum + t.orderLines.inserted + t.orderLines.updated, 0);
  return (
    `${summary.date} ${summary.status}: ${n(rows)} rows loaded, ${n(lines)} order-line facts changed, ` +
    `${n(quarantined)} quarantined` +
    (summary.failures?.length ? `, failed: ${summary.failures.map((f) => f.source).join(', ')}` : '') +
    (summary.durationMs !== undefined ? `, ${duration(summary.durationMs)}` : '')
  );
}

/** The readable summary: Markdown, for the Temporal UI's details and the CLI. */
export function formatSummary(summary: PipelineSummary): string {
  const out: string[] = [];
  out.push(
    `**Daily pipeline ${summary.date}: ${summary.status}**` +
      (summary.durationMs !== undefined ? ` in ${duration(summary.durationMs)}` : ''),
  );
  if (summary.error) out.push('', `Error: ${summary.error}`);
  if (summary.failures?.length) {
    out.push('', 'Failed sources (the others went on without them):');
    for (const f of summary.failures) out.push(`- ${f.source}, ${f.step}: ${f.error}`);
  }
  if (summary.loads.length > 0) {
    out.push('', 'Rows loaded into staging:');
    for (const l of summary.loads)
      out.push(
        `- ${l.source}.${l.table}: ${n(l.rows)} (${l.mode}${l.pieces > 0 ? `, ${l.pieces} ${l.mode === 'full' ? 'chunk' : 'batch'}${l.pieces === 1 ? '' : l.mode === 'full' ? 's' : 'es'}` : ''})` +
          (l.durationMs !== undefined ? ` in ${duration(l.durationMs)}` : '') +
          (l.notes.length > 0 ? ` — ${l.notes.join('; ')}` : ''),
      );
  }
  for (const t of summary.transforms) {
    out.push(
      '',
      `Star schema from ${t.source}${t.durationMs !== undefined ? ` (${duration(t.durationMs)})` : ''}:`,
      ...(t.mappingMs && Object.keys(t.mappingMs).length > 0
        ? [
            `- mappings: ${Object.entries(t.mappingMs)
              .map(([entity, ms]) => `${entity} ${duration(ms)}`)
              .join(', ')}`,
          ]
        : []),
      ...(t.path
        ? [
            `- transform: ${{ full: 'full', scoped: 'key-scoped', unchanged: 'none (unchanged)' }[t.path.kind]} — ${t.path.reason}`,
          ]
        : []),
      `- customers: ${n(t.customers.new)} new, ${n(t.customers.newVersions)} new versions, ${n(t.customers.overwritten)} overwritten`,
      `- products: ${n(t.products.new)} new, ${n(t.products.newVersions)} new versions, ${n(t.products.overwritten)} overwritten`,
      `- order lines: ${n(t.orderLines.inserted)} inserted, ${n(t.orderLines.updated)} updated, ${n(t.orderLines.deleted)} deleted`,
      `- payments: ${n(t.payments.inserted)} inserted, ${n(t.payments.updated)} updated, ${n(t.payments.deleted)} deleted`,
      ...(t.orders
        ? [
            `- orders: ${n(t.orders.inserted)} inserted, ${n(t.orders.updated)} updated, ${n(t.orders.deleted)} deleted`,
          ]
        : []),
    );
  }
  const quarantining = summary.transforms.filter((t) => t.quarantined.length > 0);
  if (quarantining.length === 0) out.push('', 'Quarantined: none');
  for (const t of quarantining) {
    out.push('', `Quarantined rows of ${t.source} by rule:`);
    for (const q of t.quarantined) out.push(`- ${q.entity} ${q.rule}: ${n(q.rows)}`);
  }
  for (const r of summary.reconciliations) {
    out.push(
      '',
      `Reconciliation of ${r.source}: ${r.mismatchedDays === 0 ? 'every day matches' : `${r.mismatchedDays} of ${r.days} days differ${r.unsettled ? ' (the source changed during the run; checked again next run)' : ''}`}` +
        (r.durationMs !== undefined ? ` (${duration(r.durationMs)})` : ''),
      ...(r.checked ? [`- checked: ${r.checked}`] : []),
      `- source: ${n(r.source_lines)} lines, revenue ${formatMoney(r.source_amount)}`,
      `- warehouse: ${n(r.warehouse_lines - r.quarantined_lines)} facts + ${n(r.quarantined_lines)} quarantined = ${n(r.warehouse_lines)} lines, revenue ${formatMoney(r.warehouse_amount)} (of which quarantined ${formatMoney(r.quarantined_amount)})`,
    );
    if (r.quarantineWarning) out.push(`- **Warning: ${r.quarantineWarning}**`);
    for (const d of r.differences)
      out.push(
        `- ${d.day}: source ${n(d.source_lines)} lines / ${d.source_amount}, warehouse ${n(d.warehouse_lines)} / ${d.warehouse_amount}`,
      );
  }
  if (summary.models?.length) {
    out.push('', 'Models:');
    for (const step of summary.models) out.push(`- ${formatModelStep(step)}`);
  }
  return out.join('\n');
}
