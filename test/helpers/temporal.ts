import { Client, Connection } from '@temporalio/client';
import crypto from 'node:crypto';
import type { ActivityDeps } from '../../activities';
import { createLogger } from '../../lib/log';
import { startWorkers, type RunningWorkers, type TaskQueueName } from '../../workers/workers';
import { testServices } from './services';

export interface TestWorker {
  client: Client;
  /** The unique task queue of each queue name, for starting workflows. */
  taskQueues: Record<TaskQueueName, string>;
  workers: RunningWorkers;
  stop(): Promise<void>;
}

/** A real worker on the real Temporal dev server, with task queues unique to this test. */
export async function startTestWorker(deps: ActivityDeps): Promise<TestWorker> {
  const { temporalAddress } = testServices();
  const unique = crypto.randomBytes(4).toString('hex');
  const taskQueues = { etl: `etl-${unique}`, ml: `ml-${unique}`, carts: `carts-${unique}` };
  const workers = await startWorkers({
    address: temporalAddress,
    namespace: 'default',
    deps,
    logger: createLogger('warn'),
    taskQueues,
  });
  const connection = await Connection.connect({ address: temporalAddress });
  const client = new Client({ connection, namespace: 'default' });
  return {
    client,
    taskQueues,
    workers,
    stop: async () => {
      await workers.shutdown();
      await connection.close();
    },
  };
}
