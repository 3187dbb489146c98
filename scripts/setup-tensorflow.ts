/**
 * `npm run setup:tensorflow`: installs the native TensorFlow backend of the models from the package
 * registries alone (docs/models.md, Backend). Safe to run again; re-run it after `npm ci` or `npm install`,
 * which remove the unsaved `@tensorflow/tfjs-node`.
 *
 * `@tensorflow/tfjs-node`'s own install script downloads libtensorflow and a prebuilt addon from a host
 * outside the registries. Instead: the PyPI wheel `tensorflow-cpu` ships `libtensorflow_cc.so.2`, which
 * exports the same TensorFlow C API; tfjs-node's install script skips its download when `deps/lib` holds
 * the library under the name it checks for, and builds its addon from source with node-gyp when
 * `scripts/custom-binary.json` names a `tf-lib`.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../lib/config';

/** The wheel whose libtensorflow_cc exports the C API (2.12 is the smallest such wheel: 578 MB unpacked). */
const TENSORFLOW_WHEEL = {
  name: 'tensorflow-cpu',
  version: '2.12.1',
  python: '3.11',
  platform: 'manylinux_2_17_x86_64',
};
const TFJS_NODE = '@tensorflow/tfjs-node';
/** The two libraries the addon needs at run time, under their sonames. */
const LIBRARIES = ['libtensorflow_cc.so.2', 'libtensorflow_framework.so.2'] as const;

const projectRoot = path.resolve(__dirname, '..');
const tfjsNodeDir = path.join(projectRoot, 'node_modules', TFJS_NODE);

class SetupError extends Error {}

async function main(): Promise<void> {
  const started = Date.now();
  if (os.platform() !== 'linux' || os.arch() !== 'x64') {
    throw new SetupError(
      `The native TensorFlow set-up knows Linux x86-64 only, not ${os.platform()} ${os.arch()}; the models run on WASM (CARTFLOW_ML_BACKEND=wasm).`,
    );
  }
  const tfjsVersion = installedVersion('@tensorflow/tfjs');
  const libtensorflow = step('libtensorflow from the PyPI wheel', () =>
    extractLibtensorflow(path.join(loadConfig().home, 'tools')),
  );
  step(`${TFJS_NODE}@${tfjsVersion} into node_modules, unsaved`, () => installTfjsNode(tfjsVersion));
  step('one @tensorflow/tfjs-core for the models and tfjs-node', assertOneTfjsCore);
  step('libtensorflow into tfjs-node', () => placeLibtensorflow(libtensorflow));
  step('the tfjs-node addon, built from source', buildAddon);
  const info = await verify();
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  console.log(`Native TensorFlow is ready in ${seconds} s: ${info}.`);
  console.log('CARTFLOW_ML_BACKEND=auto (the default) now takes it; =native requires it.');
}

function step<T>(title: string, run: () => T): T {
  const started = Date.now();
  process.stdout.write(`- ${title}: `);
  const result = run();
  console.log(
    `${typeof result === 'string' ? result : 'done'} (${((Date.now() - started) / 1000).toFixed(1)} s)`,
  );
  return result;
}

/** The version of an installed package, read from the project's node_modules. */
function installedVersion(name: string): string {
  const manifest = path.join(projectRoot, 'node_modules', name, 'package.json');
  if (!fs.existsSync(manifest)) throw new SetupError(`${name} is not installed: run \`npm ci\` first.`);
  return (JSON.parse(fs.readFileSync(manifest, 'utf8')) as { version: string }).version;
}

/**
 * Downloads the wheel and keeps only the two libraries and the C API headers, under `toolsDir`, once.
 * Returns the folder holding `lib/` and `include/`.
 */
function extractLibtensorflow(toolsDir: string): string {
  const target = path.join(toolsDir, `libtensorflow-${TENSORFLOW_WHEEL.version}`);
  if (fs.existsSync(target)) return target;
  const staging = `${target}.partial`;
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(staging, { recursive: true });
  const requirement = `${TENSORFLOW_WHEEL.name}==${TENSORFLOW_WHEEL.version}`;
  run(
    'python3',
    [
      ...['-m', 'pip', 'download', '--quiet', '--disable-pip-version-check', '--no-cache-dir', '--no-deps'],
      ...[
        '--only-binary=:all:',
        '--python-version',
        TENSORFLOW_WHEEL.python,
        '--platform',
        TENSORFLOW_WHEEL.platform,
      ],
      ...['--dest', staging, requirement],
    ],
    `pip could not download ${requirement} (needs python3 with pip and the Python package index)`,
  );
  const wheel = fs.readdirSync(staging).find((file) => file.endsWith('.whl'));
  if (wheel === undefined) throw new SetupError(`pip reported success but left no wheel in ${staging}`);
  // Only the libraries and the headers the addon includes: tensorflow/c/**, tsl/c/** and the ctstring headers.
  const extract = `
import os, sys, zipfile
wheel, out, libraries = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(wheel) as archive:
    for member in archive.infolist():
        name = member.filename
        if name in ['tensorflow/' + lib for lib in libraries]:
            destination = os.path.join(out, 'lib', os.path.basename(name))
        elif name.startswith('tensorflow/include/') and not name.endswith('/') and (
                '/c/' in name or os.path.basename(name).startswith('ctstring')):
            destination = os.path.join(out, 'include', name[len('tensorflow/include/'):])
        else:
            continue
        os.makedirs(os.path.dirname(destination), exist_ok=True)
        with archive.open(member) as source, open(destination, 'wb') as sink:
            while chunk := source.read(1 << 20):
                sink.write(chunk)
`;
  run(
    'python3',
    ['-c', extract, path.join(staging, wheel), staging, ...LIBRARIES],
    `could not unpack ${wheel}`,
  );
  fs.rmSync(path.join(staging, wheel));
  for (const library of LIBRARIES) {
    if (!fs.existsSync(path.join(staging, 'lib', library))) {
      throw new SetupError(
        `${wheel} holds no tensorflow/${library}; pin a tensorflow-cpu wheel of 2.12 or newer`,
      );
    }
  }
  fs.renameSync(staging, target);
  return target;
}

/** Installs tfjs-node of the same version as @tensorflow/tfjs, without its install script (the download). */
function installTfjsNode(version: string): string {
  if (fs.existsSync(tfjsNodeDir) && installedVersion(TFJS_NODE) === version) return 'already there';
  run(
    'npm',
    ['install', '--no-save', '--ignore-scripts', '--no-audit', '--no-fund', `${TFJS_NODE}@${version}`],
    `npm could not install ${TFJS_NODE}@${version}`,
    { cwd: projectRoot },
  );
  return 'installed';
}

/** tfjs-node must register its backend in the very @tensorflow/tfjs-core the models import. */
function assertOneTfjsCore(): string {
  const listing = spawnSync('npm', ['ls', '--all', '--parseable', '@tensorflow/tfjs-core'], {
    cwd: projectRoot,
    encoding: 'utf8',
  });
  const copies = new Set(listing.stdout.split('\n').filter((line) => line.endsWith('tfjs-core')));
  if (copies.size !== 1) {
    throw new SetupError(
      `npm ls finds ${copies.size} copies of @tensorflow/tfjs-core (${[...copies].join(', ')}); tfjs-node would ` +
        'register its backend in another copy than the models use. Align the @tensorflow/* versions in package.json.',
    );
  }
  return [...copies][0].slice(projectRoot.length + 1);
}

/**
 * Puts the libraries into tfjs-node's `deps/lib` under every name it looks for: the name its install
 * script checks (`libtensorflow.so.<its version>`), the names the linker takes (`libtensorflow.so`,
 * `libtensorflow_framework.so`), and the sonames the built addon loads at run time. Hard links where
 * the cache is on the same file system, so the 578 MB are on disk once.
 */
function placeLibtensorflow(libtensorflow: string): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- tfjs-node's own constants, plain JavaScript
  const constants = require(path.join(tfjsNodeDir, 'scripts', 'deps-constants.js')) as {
    depsLibPath: string;
    depsLibTensorFlowName: string;
    depsLibTensorFlowFrameworkName: string;
  };
  fs.mkdirSync(constants.depsLibPath, { recursive: true });
  const placed: string[] = [];
  for (const library of LIBRARIES) {
    const destination = path.join(constants.depsLibPath, library);
    if (fs.existsSync(destination)) continue;
    try {
      fs.linkSync(path.join(libtensorflow, 'lib', library), destination);
      placed.push(`${library} hard-linked`);
    } catch {
      fs.copyFileSync(path.join(libtensorflow, 'lib', library), destination);
      placed.push(`${library} copied (the cache is on another file system)`);
    }
  }
  const aliases: Record<string, (typeof LIBRARIES)[number]> = {
    [constants.depsLibTensorFlowName]: 'libtensorflow_cc.so.2',
    'libtensorflow.so': 'libtensorflow_cc.so.2',
    [constants.depsLibTensorFlowFrameworkName]: 'libtensorflow_framework.so.2',
    'libtensorflow_framework.so': 'libtensorflow_framework.so.2',
  };
  for (const [alias, library] of Object.entries(aliases)) {
    const link = path.join(constants.depsLibPath, alias);
    fs.rmSync(link, { force: true });
    fs.symlinkSync(library, link);
  }
  fs.cpSync(path.join(libtensorflow, 'include'), path.join(tfjsNodeDir, 'deps', 'include'), {
    recursive: true,
  });
  fs.writeFileSync(
    path.join(tfjsNodeDir, 'scripts', 'custom-binary.json'),
    `${JSON.stringify({ 'tf-lib': `${libtensorflow}/lib (placed by scripts/setup-tensorflow.ts, not downloaded)` })}\n`,
  );
  return placed.length === 0 ? 'already there' : placed.join(', ');
}

/** Runs tfjs-node's install script, which builds the addon from source against the placed library. */
function buildAddon(): string {
  const addon = path.join(tfjsNodeDir, 'lib', `napi-v${process.versions.napi}`, 'tfjs_binding.node');
  const napiDirs = fs.existsSync(path.join(tfjsNodeDir, 'lib'))
    ? fs.readdirSync(path.join(tfjsNodeDir, 'lib'))
    : [];
  if (napiDirs.some((dir) => fs.existsSync(path.join(tfjsNodeDir, 'lib', dir, 'tfjs_binding.node')))) {
    return 'already built';
  }
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: `${path.join(projectRoot, 'node_modules', '.bin')}${path.delimiter}${process.env.PATH ?? ''}`,
  };
  if (env.npm_config_nodedir === undefined) env.npm_config_nodedir = nodeHeadersDir();
  run(
    process.execPath,
    [path.join('scripts', 'install.js')],
    `could not build ${TFJS_NODE}'s addon (${addon})`,
    {
      cwd: tfjsNodeDir,
      env,
    },
  );
  return 'built';
}

/** node-gyp needs Node's headers; without a nodedir it would download them. */
function nodeHeadersDir(): string {
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  if (!fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) {
    throw new SetupError(
      `Node's C headers are not in ${prefix}/include/node, and node-gyp would download them. Install the ` +
        'headers of this Node version there, or set npm_config_nodedir to a folder holding include/node.',
    );
  }
  return prefix;
}

/** Loads the backend the way the models do and checks one product against its known answer. */
async function verify(): Promise<string> {
  const { useTensorFlow } = await import('../ml/backend');
  const tf = await import('@tensorflow/tfjs');
  const info = await useTensorFlow('native');
  const product = tf.matMul(
    tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]),
    tf.tensor2d([7, 8, 9, 10, 11, 12], [3, 2]),
  );
  const values = Array.from(await product.data());
  if (tf.getBackend() !== 'tensorflow' || values.join() !== '58,64,139,154') {
    throw new SetupError(
      `the native backend loaded but computed [${values.join(', ')}] for [58, 64, 139, 154]`,
    );
  }
  return info.detail;
}

function run(
  command: string,
  args: string[],
  problem: string,
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): void {
  const result = spawnSync(command, args, {
    ...options,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (result.error || result.status !== 0) {
    const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n');
    throw new SetupError(`${problem}:\n${result.error?.message ?? output}`);
  }
}

main().catch((error: unknown) => {
  console.error(
    `\nnpm run setup:tensorflow failed: ${error instanceof Error ? error.message : String(error)}`,
  );
  if (!(error instanceof SetupError) && error instanceof Error) console.error(error.stack);
  process.exitCode = 1;
});
