import { loadConfig, type Config } from '../../lib/config';
import { testBackendChoice } from './ml-backend';

/**
 * A config for tests: built from a plain object, never from the test process's environment. The
 * models run on the backend the test run chose (`CARTFLOW_TEST_ML_BACKEND`, default WASM), so that a
 * machine with native TensorFlow installed computes what every other machine does.
 */
export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({
    CARTFLOW_HOME: '/tmp/cartflow-test-home',
    CARTFLOW_INGEST_TOKEN: 'test-token',
    CARTFLOW_ML_BACKEND: testBackendChoice(),
    ...overrides,
  });
}
