import { spawnSync } from 'node:child_process';
import path from 'node:path';

const projectRoot = path.resolve(__dirname, '../..');

/** The lint rule that keeps I/O out of workflow code, checked on imports it must refuse and one it must allow. */
describe('the workflow import rule', () => {
  const workflowSource = [
    `import pg from 'pg';`,
    `import fs from 'node:fs';`,
    `import { createActivities } from '../activities';`,
    `import type { Activities } from '../activities';`,
    `import { Readable } from 'stream';`,
    `import zlib from 'zlib';`,
    `import { EventEmitter } from 'events';`,
    `import { inspect } from 'util';`,
    `import { URL as NodeUrl } from 'url';`,
    `import { pipeline } from 'stream/promises';`,
    `export const used = [pg, fs, createActivities, Readable, zlib, EventEmitter, inspect, NodeUrl, pipeline];`,
    `export type Used = Activities;`,
  ].join('\n');
  let refusedByLine: Map<number, string>;

  beforeAll(() => {
    // ESLint runs in its own process, as `npm run lint` runs it: its config is an ES module jest cannot load.
    const run = spawnSync(
      path.join(projectRoot, 'node_modules/.bin/eslint'),
      ['--stdin', '--stdin-filename', 'workflows/daily-pipeline.ts', '--format', 'json'],
      { cwd: projectRoot, input: workflowSource, encoding: 'utf8' },
    );
    const [result] = JSON.parse(run.stdout) as {
      messages: { ruleId: string; line: number; message: string }[];
    }[];
    refusedByLine = new Map(
      result.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => [m.line, m.message]),
    );
  });

  it('refuses I/O packages and Node built-ins in workflow files', () => {
    expect(refusedByLine.get(1)).toContain('Workflow code must be deterministic');
    expect(refusedByLine.get(2)).toContain('Workflow code must be deterministic');
  });

  it('refuses the Node built-ins imported without the node: prefix, and their subpaths', () => {
    for (const line of [5, 6, 7, 8, 9, 10])
      expect(refusedByLine.get(line)).toContain('Workflow code must be deterministic');
  });

  it('refuses a value import of the activities but allows a type import', () => {
    expect(refusedByLine.get(3)).toContain('import activities as types only');
    expect(refusedByLine.has(4)).toBe(false);
  });
});
