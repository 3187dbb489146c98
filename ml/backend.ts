/**
 * The one place that chooses the TensorFlow.js backend every model runs on (docs/models.md, Backend).
 *
 * Model code does `import * as tf from '@tensorflow/tfjs'` and computes on whatever backend `useTensorFlow`
 * set: native TensorFlow (`@tensorflow/tfjs-node`, installed by `npm run setup:tensorflow`, never by
 * `npm ci`) when it loads, else WebAssembly (`@tensorflow/tfjs-backend-wasm`, always installed).
 */
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths, version_wasm } from '@tensorflow/tfjs-backend-wasm';

export type BackendChoice = 'auto' | 'native' | 'wasm';

export interface BackendInfo {
  /** The TensorFlow.js backend name, as `tf.getBackend()` reports it. */
  name: 'tensorflow' | 'wasm';
  native: boolean;
  /** The version of `@tensorflow/tfjs-core` the models run on. */
  tfjsVersion: string;
  /** What runs underneath, e.g. `libtensorflow 2.12.1 via @tensorflow/tfjs-node 4.22.0` or `wasm simd`. */
  detail: string;
}

const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'native', 'wasm'];

/** Held in a variable so that `tsc` does not look for the package's types: it is absent after `npm ci`. */
const TFJS_NODE = '@tensorflow/tfjs-node';

const SETUP_HINT =
  'Run `npm run setup:tensorflow` (once per machine, and again after every `npm ci` or `npm install`, ' +
  'which remove it), or choose the WASM backend with CARTFLOW_ML_BACKEND=wasm.';

/** What `require('@tensorflow/tfjs-node')` gives that this module reads. */
interface TfjsNodeModule {
  version: Record<string, string>;
}

/** The part of tfjs-node's backend object that names the libtensorflow it runs. */
interface NodeJsKernelBackend {
  binding?: { TF_Version?: string };
}

const prepared = new Map<BackendChoice, Promise<BackendInfo>>();
let active: BackendInfo | undefined;

/**
 * Sets the backend for every `@tensorflow/tfjs` computation in this process and says which it is.
 * `native` fails, saying how to install it, when `@tensorflow/tfjs-node` is absent or does not load;
 * `auto` takes native when it loads and WASM otherwise, naming in `detail` why native was not used.
 * Calling it again with the same choice does nothing more; with another choice it switches backend.
 */
export async function useTensorFlow(choice: BackendChoice = 'auto'): Promise<BackendInfo> {
  if (!BACKEND_CHOICES.includes(choice)) {
    throw new Error(`Unknown TensorFlow backend choice "${String(choice)}": use auto, native or wasm.`);
  }
  let preparing = prepared.get(choice);
  if (preparing === undefined) {
    preparing = prepare(choice);
    prepared.set(choice, preparing);
    preparing.catch(() => prepared.delete(choice));
  }
  const info = await preparing;
  if (active !== undefined && active.name !== info.name) await switchTo(info.name);
  active = info;
  return info;
}

/** The backend the last successful `useTensorFlow` set; undefined before any. */
export function currentBackend(): BackendInfo | undefined {
  return active;
}

async function prepare(choice: BackendChoice): Promise<BackendInfo> {
  if (choice === 'wasm') return prepareWasm();
  if (choice === 'native') return prepareNative();
  try {
    return await prepareNative();
  } catch (error) {
    const reason = error instanceof NativeNotInstalledError ? 'not installed' : errorMessage(error);
    const wasm = await prepareWasm();
    return { ...wasm, detail: `${wasm.detail}; native TensorFlow not used: ${reason}` };
  }
}

class NativeNotInstalledError extends Error {}

async function prepareNative(): Promise<BackendInfo> {
  try {
    require.resolve(TFJS_NODE);
  } catch {
    throw new NativeNotInstalledError(
      `The native TensorFlow backend is not installed: ${TFJS_NODE} is not in node_modules. ${SETUP_HINT}`,
    );
  }
  let tfjsNode: TfjsNodeModule;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- optional package, absent after npm ci
    tfjsNode = require(TFJS_NODE) as TfjsNodeModule;
  } catch (error) {
    throw new Error(
      `The native TensorFlow backend is installed but did not load: ${errorMessage(error)}. ` +
        'Run `npm run setup:tensorflow` to rebuild it, or choose CARTFLOW_ML_BACKEND=wasm.',
      { cause: error },
    );
  }
  if (tf.findBackendFactory('tensorflow') === null) {
    throw new Error(
      `${TFJS_NODE} registered its backend in another copy of @tensorflow/tfjs-core than the models use ` +
        '(`npm ls @tensorflow/tfjs-core` shows more than one). Run `npm run setup:tensorflow`, which installs ' +
        'the tfjs-node version matching @tensorflow/tfjs.',
    );
  }
  await switchTo('tensorflow');
  const backend = tf.backend() as unknown as NodeJsKernelBackend;
  return {
    name: 'tensorflow',
    native: true,
    tfjsVersion: tf.version_core,
    detail: `libtensorflow ${backend.binding?.TF_Version ?? 'unknown version'} via ${TFJS_NODE} ${tfjsNode.version['tfjs-node']}`,
  };
}

async function prepareWasm(): Promise<BackendInfo> {
  // The .wasm binaries sit beside the package's entry point; the backend fetches them from this folder.
  setWasmPaths(require.resolve('@tensorflow/tfjs-backend-wasm').replace(/[^/\\]+$/, ''));
  await switchTo('wasm');
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  const threads = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
  const features = [simd ? 'simd' : 'no simd', threads ? 'threads' : 'one thread'].join(', ');
  return {
    name: 'wasm',
    native: false,
    tfjsVersion: tf.version_core,
    detail: `wasm (${features}) via @tensorflow/tfjs-backend-wasm ${version_wasm}`,
  };
}

async function switchTo(name: BackendInfo['name']): Promise<void> {
  if (!(await tf.setBackend(name)) || tf.getBackend() !== name) {
    throw new Error(`TensorFlow.js could not start its ${name} backend (see the warning above for why).`);
  }
  await tf.ready();
}

function errorMessage(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0];
}
