import fs from 'node:fs';
import type { EmbeddedPostgresHandle } from '../../lib/embedded/postgres';
import type { EmbeddedTemporalHandle } from '../../lib/embedded/temporal';

export default async function globalTeardown(): Promise<void> {
  const services = (globalThis as Record<string, unknown>).__cartflowTestServices as
    { postgres: EmbeddedPostgresHandle; temporal: EmbeddedTemporalHandle; home: string } | undefined;
  if (!services) return;
  await services.temporal.stop();
  await services.postgres.stop();
  fs.rmSync(services.home, { recursive: true, force: true });
}
