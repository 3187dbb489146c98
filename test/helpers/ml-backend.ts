import type { BackendChoice } from '../../ml/backend';

/**
 * The TensorFlow.js backend the model tests run on: `CARTFLOW_TEST_ML_BACKEND` (CI's second pass sets
 * `native`, after `npm run setup:tensorflow`), else `wasm`, so that `npm test` computes the same on every
 * machine whether or not the native backend is installed there.
 */
export function testBackendChoice(): BackendChoice {
  const text = process.env.CARTFLOW_TEST_ML_BACKEND ?? 'wasm';
  if (text !== 'auto' && text !== 'native' && text !== 'wasm') {
    throw new Error(`CARTFLOW_TEST_ML_BACKEND must be auto, native or wasm, not "${text}"`);
  }
  return text;
}
