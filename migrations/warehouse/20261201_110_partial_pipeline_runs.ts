import type { Knex } from 'knex';

/**
 * A run in which some sources failed and the others landed is `partial`: each source's extract,
 * transform and reconciliation succeed or fail on their own (docs/pipeline.md, "When a source fails").
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    alter table ops.pipeline_runs drop constraint pipeline_runs_status_check;
    alter table ops.pipeline_runs add constraint pipeline_runs_status_check
      check (status in ('running', 'succeeded', 'partial', 'failed'));
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    update ops.pipeline_runs set status = 'failed' where status = 'partial';
    alter table ops.pipeline_runs drop constraint pipeline_runs_status_check;
    alter table ops.pipeline_runs add constraint pipeline_runs_status_check
      check (status in ('running', 'succeeded', 'failed'));
  `);
}
