import type { MigrationModule } from '../../lib/migrate';
import * as schemas from './20261123_001_schemas';

/** The warehouse's migrations, oldest first. Never edit a landed one; add a new one. */
export const warehouseMigrations: Record<string, MigrationModule> = {
  '20261123_001_schemas': schemas,
};
