import { loadConfig, type Config } from '../../lib/config';

/** A config for tests: built from a plain object, never from the test process's environment. */
export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({
    CARTFLOW_HOME: '/tmp/cartflow-test-home',
    CARTFLOW_INGEST_TOKEN: 'test-token',
    ...overrides,
  });
}
