import type { MigrationModule } from '../../lib/migrate';
import * as storefront from './20261123_001_storefront';

/** The demo storefront's migrations, oldest first. Never edit a landed one; add a new one. */
export const shopMigrations: Record<string, MigrationModule> = {
  '20261123_001_storefront': storefront,
};
