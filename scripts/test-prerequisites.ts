/**
 * `npm test`'s `pretest` step: the Debian programs the tests drive besides what they fetch themselves
 * (Postgres comes from npm, Temporal's CLI from PyPI). Missing ones are installed with apt-get when
 * this runs as root on a machine that has it; otherwise the run stops here, before any test, with the
 * one command that installs them — never a partial red run.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** A program the tests run, and the Debian package that ships it. */
export interface Prerequisite {
  program: string;
  package: string;
  /** What needs it, for the message. */
  usedBy: string;
}

export const PREREQUISITES: readonly Prerequisite[] = [
  { program: 'mariadbd', package: 'mariadb-server', usedBy: 'the MySQL-source tests' },
  { program: 'mariadb-install-db', package: 'mariadb-server', usedBy: 'the MySQL-source tests' },
  { program: 'chromium', package: 'chromium', usedBy: "the dashboard's browser test" },
];

/** Debian puts daemons under /usr/sbin, which is not on an ordinary user's PATH; the tests look there too. */
export const SYSTEM_DIRS: readonly string[] = ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin'];

export interface Environment {
  /** The PATH to search, then `systemDirs`. */
  path: string;
  systemDirs: readonly string[];
  uid: number;
}

export type Plan =
  | { action: 'none' }
  | { action: 'install'; packages: string[]; commands: string[][] }
  | { action: 'stop'; packages: string[]; message: string };

export function findProgram(name: string, env: Environment): string | undefined {
  for (const dir of [...env.path.split(path.delimiter), ...env.systemDirs]) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The packages whose programs are missing, each once, in PREREQUISITES' order. */
export function missingPackages(env: Environment, prerequisites = PREREQUISITES): string[] {
  const missing = prerequisites.filter((p) => !findProgram(p.program, env)).map((p) => p.package);
  return [...new Set(missing)];
}

export function installCommands(packages: readonly string[]): string[][] {
  return [
    ['apt-get', 'update'],
    ['apt-get', 'install', '-y', '--no-install-recommends', ...packages],
  ];
}

/** What `npm test` does about the prerequisites on this machine. */
export function planPrerequisites(env: Environment, prerequisites = PREREQUISITES): Plan {
  const packages = missingPackages(env, prerequisites);
  if (packages.length === 0) return { action: 'none' };
  const hasAptGet = findProgram('apt-get', env) !== undefined;
  if (env.uid === 0 && hasAptGet) return { action: 'install', packages, commands: installCommands(packages) };
  return { action: 'stop', packages, message: stopMessage(packages, prerequisites, hasAptGet) };
}

function stopMessage(packages: string[], prerequisites: readonly Prerequisite[], hasAptGet: boolean): string {
  const needs = packages.map((pkg) => {
    const entries = prerequisites.filter((p) => p.package === pkg);
    return `  ${pkg} (${entries.map((p) => p.program).join(', ')}: ${entries[0].usedBy})`;
  });
  const command = `sudo apt-get update && sudo apt-get install -y --no-install-recommends ${packages.join(' ')}`;
  return [
    'npm test stopped before running any test: these Debian packages are not installed:',
    ...needs,
    hasAptGet
      ? 'Not running as root, so npm test does not install them itself. Install them with:'
      : 'This machine has no apt-get; on Debian or Ubuntu they install with:',
    `  ${command}`,
    'then run npm test again.',
  ].join('\n');
}

/** Carries out the plan; returns the process's exit code. */
export function ensurePrerequisites(
  env: Environment,
  run: (command: string[]) => number,
  log: (line: string) => void,
  prerequisites = PREREQUISITES,
): number {
  const plan = planPrerequisites(env, prerequisites);
  if (plan.action === 'none') return 0;
  if (plan.action === 'stop') {
    log(plan.message);
    return 1;
  }
  log(`npm test: installing the Debian packages the tests need: ${plan.packages.join(' ')}`);
  for (const command of plan.commands) {
    log(`+ ${command.join(' ')}`);
    const status = run(command);
    if (status !== 0) {
      log(
        `npm test stopped before running any test: "${command.join(' ')}" failed (exit ${status}). ` +
          `Install the packages (${plan.packages.join(' ')}) and run npm test again.`,
      );
      return 1;
    }
  }
  const still = missingPackages(env, prerequisites);
  if (still.length > 0) {
    log(
      `npm test stopped before running any test: after apt-get install, the programs of ${still.join(' ')} are still missing.`,
    );
    return 1;
  }
  log(`npm test: installed ${plan.packages.join(' ')}.`);
  return 0;
}

/** ensurePrerequisites on this machine: its PATH and user, apt-get run here, the log on stderr. */
export function ensurePrerequisitesHere(): number {
  const env: Environment = {
    path: process.env.PATH ?? '',
    systemDirs: SYSTEM_DIRS,
    uid: process.getuid?.() ?? -1,
  };
  const run = (command: string[]) =>
    spawnSync(command[0], command.slice(1), {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    }).status ?? 1;
  return ensurePrerequisites(env, run, (line) => console.error(line));
}

if (require.main === module) process.exitCode = ensurePrerequisitesHere();
