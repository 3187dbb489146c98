import * as tf from '@tensorflow/tfjs';
import { ConfigError, loadConfig } from '../../lib/config';
import { currentBackend, useTensorFlow, type BackendChoice } from '../../ml/backend';
import { testConfig } from '../helpers/config';
import { testBackendChoice } from '../helpers/ml-backend';

const choice = testBackendChoice();
const expectedName = choice === 'wasm' || (choice === 'auto' && !tfjsNodeInstalled()) ? 'wasm' : 'tensorflow';

function tfjsNodeInstalled(): boolean {
  try {
    require.resolve('@tensorflow/tfjs-node');
    return true;
  } catch {
    return false;
  }
}

/** A deterministic matrix of values in [-1, 1), row-major. */
function matrix(rows: number, columns: number, seed: number): Float32Array {
  const values = new Float32Array(rows * columns);
  let state = seed;
  for (let i = 0; i < values.length; i += 1) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    values[i] = state / 2 ** 31 - 1;
  }
  return values;
}

function plainMatMul(a: Float32Array, b: Float32Array, n: number, k: number, m: number): Float64Array {
  const product = new Float64Array(n * m);
  for (let i = 0; i < n; i += 1) {
    for (let j = 0; j < m; j += 1) {
      let sum = 0;
      for (let p = 0; p < k; p += 1) sum += a[i * k + p] * b[p * m + j];
      product[i * m + j] = sum;
    }
  }
  return product;
}

describe(`useTensorFlow on the ${choice} backend (CARTFLOW_TEST_ML_BACKEND)`, () => {
  it(`sets the ${expectedName} backend for @tensorflow/tfjs and says which it is`, async () => {
    const info = await useTensorFlow(choice);
    expect(info).toEqual({
      name: expectedName,
      native: expectedName === 'tensorflow',
      tfjsVersion: tf.version_core,
      detail: expect.stringMatching(
        expectedName === 'tensorflow'
          ? /^libtensorflow 2\.\d+\.\d+ via @tensorflow\/tfjs-node 4\.22\.0$/
          : /^wasm \(simd, (one thread|threads)\) via @tensorflow\/tfjs-backend-wasm 4\.22\.0/,
      ),
    });
    expect(tf.getBackend()).toBe(expectedName);
    expect(currentBackend()).toEqual(info);
  });

  it('does nothing more when called again with the same choice', async () => {
    const first = await useTensorFlow(choice);
    const [second, third] = await Promise.all([useTensorFlow(choice), useTensorFlow(choice)]);
    expect(second).toBe(first);
    expect(third).toBe(first);
    expect(tf.getBackend()).toBe(expectedName);
  });

  it('multiplies matrices as plain JavaScript does', async () => {
    await useTensorFlow(choice);
    const [n, k, m] = [37, 53, 29];
    const a = matrix(n, k, 1);
    const b = matrix(k, m, 2);
    const product = tf.tidy(() => tf.matMul(tf.tensor2d(a, [n, k]), tf.tensor2d(b, [k, m])));
    const values = await product.data();
    product.dispose();
    const reference = plainMatMul(a, b, n, k, m);
    expect(values).toHaveLength(n * m);
    const worst = Math.max(...Array.from(values, (value, i) => Math.abs(value - reference[i])));
    expect(worst).toBeLessThan(1e-4);
    expect(tf.getBackend()).toBe(expectedName);
  });

  it('auto takes native TensorFlow when tfjs-node is installed, else WASM naming why', async () => {
    const info = await useTensorFlow('auto');
    if (tfjsNodeInstalled()) {
      expect(info).toMatchObject({ name: 'tensorflow', native: true });
    } else {
      expect(info).toMatchObject({ name: 'wasm', native: false });
      expect(info.detail).toMatch(/; native TensorFlow not used: not installed$/);
    }
    expect(tf.getBackend()).toBe(info.name);
    await useTensorFlow(choice);
    expect(tf.getBackend()).toBe(expectedName);
  });

  it('native loads when tfjs-node is installed, else fails saying to run npm run setup:tensorflow', async () => {
    if (tfjsNodeInstalled()) {
      await expect(useTensorFlow('native')).resolves.toMatchObject({ name: 'tensorflow', native: true });
    } else {
      await expect(useTensorFlow('native')).rejects.toThrow(
        /^The native TensorFlow backend is not installed: @tensorflow\/tfjs-node is not in node_modules\. Run `npm run setup:tensorflow`/,
      );
    }
    await useTensorFlow(choice);
    expect(tf.getBackend()).toBe(expectedName);
  });

  it('rejects a choice it does not know', async () => {
    await expect(useTensorFlow('gpu' as BackendChoice)).rejects.toThrow(
      'Unknown TensorFlow backend choice "gpu": use auto, native or wasm.',
    );
  });
});

describe('CARTFLOW_ML_BACKEND', () => {
  it('is auto unless set, and takes native or wasm', () => {
    expect(loadConfig({}).ml.backend).toBe('auto'); // testConfig picks the test run's backend
    expect(testConfig().ml.backend).toBe(testBackendChoice());
    expect(testConfig({ CARTFLOW_ML_BACKEND: 'native' }).ml.backend).toBe('native');
    expect(testConfig({ CARTFLOW_ML_BACKEND: ' wasm ' }).ml.backend).toBe('wasm');
  });

  it('refuses anything else, naming the choices', () => {
    expect(() => testConfig({ CARTFLOW_ML_BACKEND: 'gpu' })).toThrow(ConfigError);
    expect(() => testConfig({ CARTFLOW_ML_BACKEND: 'gpu' })).toThrow(
      /^CARTFLOW_ML_BACKEND must be auto, native or wasm, not "gpu"/,
    );
  });
});
