/**
 * `npx tsx bench/backends.ts`: one 1000×1000 float32 matrix product on each TensorFlow.js backend this
 * machine has (native TensorFlow when `npm run setup:tensorflow` installed it, WASM) and in plain
 * JavaScript, the median of 5 timed runs after one warm-up, with the load average, and the ratios.
 */
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { useTensorFlow, type BackendChoice } from '../ml/backend';

const SIZE = 1000;
const RUNS = 5;

function randomMatrix(seed: number): Float32Array {
  const values = new Float32Array(SIZE * SIZE);
  let state = seed;
  for (let i = 0; i < values.length; i += 1) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    values[i] = state / 2 ** 31 - 1;
  }
  return values;
}

/** The i-k-j loop, the cache-friendly order, into a Float32Array. */
function plainMatMul(a: Float32Array, b: Float32Array): Float32Array {
  const product = new Float32Array(SIZE * SIZE);
  for (let i = 0; i < SIZE; i += 1) {
    const row = i * SIZE;
    for (let k = 0; k < SIZE; k += 1) {
      const aik = a[row + k];
      const bRow = k * SIZE;
      for (let j = 0; j < SIZE; j += 1) product[row + j] += aik * b[bRow + j];
    }
  }
  return product;
}

async function medianMs(run: () => Promise<unknown>): Promise<number> {
  await run();
  const times: number[] = [];
  for (let i = 0; i < RUNS; i += 1) {
    const started = performance.now();
    await run();
    times.push(performance.now() - started);
  }
  return times.sort((x, y) => x - y)[Math.floor(RUNS / 2)];
}

async function main(): Promise<void> {
  const a = randomMatrix(1);
  const b = randomMatrix(2);
  const load = () =>
    os
      .loadavg()
      .map((value) => value.toFixed(2))
      .join(' ');
  console.log(`${SIZE}×${SIZE} float32 matmul, median of ${RUNS} after a warm-up; ${os.cpus().length} cores`);
  console.log(`load average before: ${load()}`);

  const rows: { name: string; detail: string; ms: number }[] = [];
  for (const choice of ['native', 'wasm'] satisfies BackendChoice[]) {
    let detail: string;
    try {
      detail = (await useTensorFlow(choice)).detail;
    } catch (error) {
      console.log(`${choice}: not measured, ${error instanceof Error ? error.message : String(error)}`);
      continue;
    }
    const ta = tf.tensor2d(a, [SIZE, SIZE]);
    const tb = tf.tensor2d(b, [SIZE, SIZE]);
    const ms = await medianMs(async () => {
      const product = tf.matMul(ta, tb);
      await product.data();
      product.dispose();
    });
    tf.dispose([ta, tb]);
    rows.push({ name: choice, detail, ms });
  }
  rows.push({
    name: 'plain JS',
    detail: 'i-k-j loops over Float32Array',
    ms: await medianMs(async () => plainMatMul(a, b)),
  });

  const plain = rows[rows.length - 1].ms;
  for (const row of rows) {
    console.log(
      `${row.name.padEnd(8)} ${row.ms.toFixed(1).padStart(8)} ms  ${(plain / row.ms).toFixed(1).padStart(6)}× plain JS  (${row.detail})`,
    );
  }
  const native = rows.find((row) => row.name === 'native');
  const wasm = rows.find((row) => row.name === 'wasm');
  if (native && wasm) console.log(`native is ${(wasm.ms / native.ms).toFixed(1)}× WASM`);
  console.log(`load average after: ${load()}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
