import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  ensurePrerequisites,
  missingPackages,
  planPrerequisites,
  type Environment,
} from '../../scripts/test-prerequisites';

/** A directory standing for PATH, with the given programs in it as executable scripts. */
function binDir(programs: Record<string, string> = {}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cartflow-prereq-'));
  for (const [name, body] of Object.entries(programs)) {
    fs.writeFileSync(path.join(dir, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  }
  return dir;
}

/** No system directories: only the PATH given is searched, so this machine's own MariaDB is not seen. */
const env = (dir: string, uid: number): Environment => ({ path: dir, systemDirs: [], uid });

describe('npm test prerequisites (scripts/test-prerequisites.ts)', () => {
  test('a PATH without mariadbd or chromium misses both packages, mariadb-server once', () => {
    expect(missingPackages(env(binDir(), 1000))).toEqual(['mariadb-server', 'chromium']);
    expect(
      missingPackages(env(binDir({ mariadbd: 'exit 0', 'mariadb-install-db': 'exit 0' }), 1000)),
    ).toEqual(['chromium']);
    // A file that is not executable does not count.
    const dir = binDir({ chromium: 'exit 0' });
    fs.chmodSync(path.join(dir, 'chromium'), 0o644);
    expect(missingPackages(env(dir, 1000))).toEqual(['mariadb-server', 'chromium']);
  });

  test('not root: stops before any test with the one command that installs the missing packages', () => {
    const plan = planPrerequisites(env(binDir({ 'apt-get': 'exit 0', chromium: 'exit 0' }), 1000));
    expect(plan.action).toBe('stop');
    if (plan.action !== 'stop') return;
    expect(plan.packages).toEqual(['mariadb-server']);
    expect(plan.message).toContain('npm test stopped before running any test');
    expect(plan.message).toContain('mariadb-server (mariadbd, mariadb-install-db: the MySQL-source tests)');
    expect(plan.message).toContain(
      'sudo apt-get update && sudo apt-get install -y --no-install-recommends mariadb-server\n',
    );
    expect(plan.message).not.toContain(' chromium');
  });

  test('no apt-get: stops, and says the command is for Debian or Ubuntu', () => {
    const plan = planPrerequisites(env(binDir(), 0));
    expect(plan.action).toBe('stop');
    if (plan.action !== 'stop') return;
    expect(plan.message).toContain('no apt-get');
    expect(plan.message).toContain('apt-get install -y --no-install-recommends mariadb-server chromium');
  });

  test('root with apt-get: plans apt-get update, then one install of every missing package', () => {
    expect(planPrerequisites(env(binDir({ 'apt-get': 'exit 0' }), 0))).toEqual({
      action: 'install',
      packages: ['mariadb-server', 'chromium'],
      commands: [
        ['apt-get', 'update'],
        ['apt-get', 'install', '-y', '--no-install-recommends', 'mariadb-server', 'chromium'],
      ],
    });
    expect(
      planPrerequisites(
        env(binDir({ 'apt-get': 'exit 0', mariadbd: '', 'mariadb-install-db': '', chromium: '' }), 0),
      ),
    ).toEqual({ action: 'none' });
  });

  test('root with apt-get: runs the plan, printing each command, and checks the programs are there after', () => {
    // A stand-in apt-get that records its arguments and, on install, puts the packages' programs on PATH.
    const dir = binDir({
      'apt-get': [
        'echo "$@" >> "$(dirname "$0")/apt.log"',
        'if [ "$1" = install ]; then',
        '  for p in mariadbd mariadb-install-db chromium; do printf "#!/bin/sh\\n" > "$(dirname "$0")/$p"; chmod 755 "$(dirname "$0")/$p"; done',
        'fi',
      ].join('\n'),
    });
    const lines: string[] = [];
    const run = (command: string[]) =>
      spawnSync(path.join(dir, command[0]), command.slice(1), { encoding: 'utf8' }).status ?? 1;
    expect(ensurePrerequisites(env(dir, 0), run, (l) => lines.push(l))).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'apt.log'), 'utf8')).toBe(
      'update\ninstall -y --no-install-recommends mariadb-server chromium\n',
    );
    expect(lines).toEqual([
      'npm test: installing the Debian packages the tests need: mariadb-server chromium',
      '+ apt-get update',
      '+ apt-get install -y --no-install-recommends mariadb-server chromium',
      'npm test: installed mariadb-server chromium.',
    ]);
  });

  test('a failing apt-get stops the run with the command that failed', () => {
    const dir = binDir({ 'apt-get': 'exit 100' });
    const lines: string[] = [];
    const run = (command: string[]) => spawnSync(path.join(dir, command[0]), command.slice(1)).status ?? 1;
    expect(ensurePrerequisites(env(dir, 0), run, (l) => lines.push(l))).toBe(1);
    expect(lines.at(-1)).toBe(
      'npm test stopped before running any test: "apt-get update" failed (exit 100). Install the packages (mariadb-server chromium) and run npm test again.',
    );
  });

  test('an install that leaves a program missing stops the run', () => {
    const dir = binDir({ 'apt-get': 'exit 0' });
    const lines: string[] = [];
    const run = (command: string[]) => spawnSync(path.join(dir, command[0]), command.slice(1)).status ?? 1;
    expect(ensurePrerequisites(env(dir, 0), run, (l) => lines.push(l))).toBe(1);
    expect(lines.at(-1)).toContain('the programs of mariadb-server chromium are still missing');
  });

  test('on this machine, where the tests run, the script finds everything and exits 0 without output', () => {
    const result = spawnSync(
      path.resolve('node_modules/.bin/tsx'),
      [path.resolve('scripts/test-prerequisites.ts')],
      { encoding: 'utf8' },
    );
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });
});
