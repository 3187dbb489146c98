import fs from 'node:fs';
import path from 'node:path';

/**
 * The code a model version was fitted with: the package version and, in a git checkout, the commit
 * `0.1.0+1a2b3c4d5e6f`. Uncommitted changes are not marked: a version names the commit it ran on.
 */
export function codeVersion(projectRoot = path.resolve(__dirname, '..')): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as {
    version: string;
  };
  return [pkg.version, gitCommit(projectRoot)].filter(Boolean).join('+');
}

function gitCommit(projectRoot: string): string | undefined {
  try {
    const gitDir = path.join(projectRoot, '.git');
    const head = fs.readFileSync(path.join(gitDir, 'HEAD'), 'utf8').trim();
    if (!head.startsWith('ref: ')) return head.slice(0, 12);
    const ref = head.slice(5);
    const loose = path.join(gitDir, ref);
    if (fs.existsSync(loose)) return fs.readFileSync(loose, 'utf8').trim().slice(0, 12);
    const packed = fs.readFileSync(path.join(gitDir, 'packed-refs'), 'utf8');
    const line = packed.split('\n').find((l) => l.endsWith(` ${ref}`));
    return line?.slice(0, 12);
  } catch {
    return undefined;
  }
}
