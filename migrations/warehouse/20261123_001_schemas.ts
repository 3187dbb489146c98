import type { Knex } from 'knex';

/** The warehouse's four rooms, and the record of pipeline runs. */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create schema if not exists staging;
    create schema if not exists core;
    create schema if not exists mart;
    create schema if not exists ops;

    comment on schema staging is 'Copies of source tables as extracted, plus load metadata.';
    comment on schema core is 'Conformed dimensions and facts: the star schema.';
    comment on schema mart is 'What the business reads and the models write.';
    comment on schema ops is 'Pipeline runs, checkpoints, quarantine, model versions and metrics.';

    create table ops.pipeline_runs (
      run_id        text primary key,
      pipeline_date date not null,
      status        text not null check (status in ('running', 'succeeded', 'failed')),
      started_at    timestamptz not null default now(),
      finished_at   timestamptz,
      summary       jsonb not null default '{}'::jsonb,
      error         text
    );
    create index pipeline_runs_by_date on ops.pipeline_runs (pipeline_date, started_at desc);
    comment on table ops.pipeline_runs is 'One row per DailyPipelineWorkflow run: its logical date, outcome and summary.';
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop schema if exists ops, mart, core, staging cascade');
}
