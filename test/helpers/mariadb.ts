import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { findFreePort, waitForPort } from '../../lib/embedded/ports';
import { logChildTo, terminate } from '../../lib/embedded/process';

/** A real MariaDB server started for one test file, with its data in a temporary directory. */
export interface TestMariaDb {
  readonly port: number;
  /** A `mysql://` URL for one database on this server, as the `cartflow` user with a password. */
  url(database: string): string;
  /** Creates a database (if missing) that the `cartflow` user may use. */
  createDatabase(name: string): Promise<void>;
  /** A connection as root, for setting up tables and data; closed by the caller. */
  connect(database?: string): Promise<mysql.Connection>;
  /** Stops the server and removes its data directory. */
  stop(): Promise<void>;
}

const USER = 'cartflow';
const PASSWORD = 'cartflow-test-pw';

/** Debian's MariaDB programs: on PATH for root, under /usr/sbin for everybody. */
function findProgram(name: string): string {
  const dirs = [
    ...(process.env.PATH ?? '').split(path.delimiter),
    '/usr/sbin',
    '/usr/bin',
    '/usr/local/sbin',
  ];
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    if (dir && fs.existsSync(candidate)) return candidate;
  }
  throw new Error(
    `${name} was not found: install Debian's mariadb-server (apt-get install mariadb-server), as npm test's pretest step does (scripts/test-prerequisites.ts).`,
  );
}

/**
 * Starts `mariadbd` on a free port with a fresh data directory (mariadb-install-db), creates the
 * `cartflow` user, and returns a handle. One per test file that needs it: it takes about five seconds.
 */
export async function startTestMariaDb(): Promise<TestMariaDb> {
  const mariadbd = findProgram('mariadbd');
  const installDb = findProgram('mariadb-install-db');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cartflow-mariadb-'));
  const dataDir = path.join(dir, 'data');
  const logFile = path.join(dir, 'mariadb.log');
  // mariadbd refuses to run as root unless told which user to run as; as root, it stays root.
  const userArgs = os.userInfo().uid === 0 ? ['--user=root'] : [];

  const install = spawnSync(
    installDb,
    [
      '--no-defaults',
      `--datadir=${dataDir}`,
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
      ...userArgs,
    ],
    { encoding: 'utf8' },
  );
  if (install.status !== 0)
    throw new Error(`mariadb-install-db failed (${install.status}): ${install.stderr || install.stdout}`);

  const port = await findFreePort();
  const child = spawn(
    mariadbd,
    [
      '--no-defaults',
      `--datadir=${dataDir}`,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      `--socket=${path.join(dir, 'mariadb.sock')}`,
      `--pid-file=${path.join(dir, 'mariadb.pid')}`,
      '--skip-name-resolve',
      '--skip-log-bin',
      '--innodb-buffer-pool-size=64M',
      '--character-set-server=utf8mb4',
      '--collation-server=utf8mb4_unicode_ci',
      ...userArgs,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  logChildTo(child, logFile);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    await Promise.race([
      waitForPort(port, 60_000, 'mariadbd'),
      exited.then((code) => {
        throw new Error(`mariadbd exited with ${code}; see ${logFile}:\n${fs.readFileSync(logFile, 'utf8')}`);
      }),
    ]);
  } catch (error) {
    if (child.pid) await terminate(child.pid, 'SIGTERM');
    throw error;
  }

  const connect = (database?: string) =>
    mysql.createConnection({ host: '127.0.0.1', port, user: 'root', database, multipleStatements: true });
  const root = await connect();
  try {
    await root.query(`create user '${USER}'@'%' identified by '${PASSWORD}'`);
  } finally {
    await root.end();
  }

  return {
    port,
    url: (database) => `mysql://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`,
    createDatabase: async (name) => {
      const admin = await connect();
      try {
        await admin.query(`create database if not exists \`${name}\``);
        await admin.query(`grant all on \`${name}\`.* to '${USER}'@'%'`);
      } finally {
        await admin.end();
      }
    },
    connect,
    stop: async () => {
      if (child.pid) await terminate(child.pid, 'SIGTERM', 30_000);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
