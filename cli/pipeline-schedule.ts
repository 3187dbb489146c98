import {
  ScheduleAlreadyRunning,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleOptions,
} from '@temporalio/client';
import { SCHEDULE_IDS, TASK_QUEUES } from '../contracts/names';
import { DailyPipelineWorkflow } from '../workflows/daily-pipeline';

/**
 * How far back missed runs are still taken when Temporal or the workers come back: a day. Within it,
 * the missed 02:00 run happens late (with its own logical date); beyond it, use `cartflow backfill`.
 */
export const DAILY_CATCHUP_WINDOW = '1 day';

/** The Temporal Schedule of the daily pipeline: 02:00 every day in the shop's time zone, never two at once. */
export function dailyPipelineSchedule(options: {
  timezone: string;
  taskQueue?: string;
  scheduleId?: string;
}): ScheduleOptions {
  return {
    scheduleId: options.scheduleId ?? SCHEDULE_IDS.dailyPipeline,
    spec: { calendars: [{ hour: 2, minute: 0 }], timezone: options.timezone },
    action: {
      type: 'startWorkflow',
      workflowType: DailyPipelineWorkflow,
      // Temporal appends the scheduled time: daily-2026-11-24T01:00:00Z.
      workflowId: 'daily',
      taskQueue: options.taskQueue ?? TASK_QUEUES.etl,
      // No date: the workflow takes the day it was scheduled for, in this time zone, even when late.
      args: [{ timezone: options.timezone }],
      staticSummary: `Daily pipeline, scheduled 02:00 ${options.timezone}`,
    },
    policies: {
      overlap: ScheduleOverlapPolicy.SKIP,
      catchupWindow: DAILY_CATCHUP_WINDOW,
      pauseOnFailure: false,
    },
  };
}

/** Creates the schedule, or brings an existing one in line (a changed time zone, say). Returns which. */
export async function ensureDailyPipelineSchedule(
  client: Client,
  options: { timezone: string; taskQueue?: string; scheduleId?: string },
): Promise<'created' | 'updated'> {
  const wanted = dailyPipelineSchedule(options);
  try {
    await client.schedule.create(wanted);
    return 'created';
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
    await client.schedule.getHandle(wanted.scheduleId).update((previous) => ({
      ...previous,
      spec: wanted.spec,
      action: wanted.action,
      policies: wanted.policies,
    }));
    return 'updated';
  }
}
