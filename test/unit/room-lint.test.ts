import { spawnSync } from 'node:child_process';
import path from 'node:path';

const projectRoot = path.resolve(__dirname, '../..');

/** A file of a room, and the imports it must be refused (by the message's words) or allowed. */
interface Case {
  file: string;
  refused: Record<string, string>;
  allowed: string[];
}

const CASES: Case[] = [
  {
    file: 'contracts/planted.ts',
    refused: {
      "import { createPool } from '../lib/db';": 'imports nothing of ours',
      "import type { Activities } from '../activities';": 'imports nothing of ours',
      "import pg from 'pg';": 'contracts/ is pure',
      "import { Readable } from 'stream';": 'contracts/ is pure',
    },
    allowed: ["import { TASK_QUEUES } from './names';"],
  },
  {
    file: 'workflows/planted.ts',
    refused: {
      "import { formatMoney } from '../lib/log';": 'contracts/ and activity types only',
      "import { ident } from '../extract/extract-load';": 'contracts/ and activity types only',
    },
    allowed: [
      "import { TASK_QUEUES } from '../contracts/names';",
      "import type { Activities } from '../activities';",
    ],
  },
  {
    file: 'ml/planted.ts',
    refused: {
      "import { ident } from '../lib/identifiers';": 'ml/ computes',
      "import { contactRefusal } from '../carts/rules';": 'ml/ computes',
    },
    allowed: ["import { MODELS } from '../contracts/model-summary';"],
  },
  {
    file: 'server/planted.ts',
    refused: {
      "import { fitRfm } from '../ml/rfm';": 'never here',
      "import { BOOKKEEPING } from '../workflows/pipeline-options';": "through its module's workflow",
    },
    allowed: [
      "import { cartQuery } from '../workflows/cart';",
      "import { TASK_QUEUES } from '../contracts/names';",
    ],
  },
  {
    file: 'extract/planted.ts',
    refused: {
      "import { CopyWriter } from '../imports/engine';": 'extract/ reads sources into staging',
      "import { transformSource } from '../transform/transform';": 'extract/ reads sources',
    },
    allowed: [
      "import { saveSource } from '../sources/registry';",
      "import { ident } from '../lib/identifiers';",
    ],
  },
  {
    file: 'imports/planted.ts',
    refused: { "import { readColumns } from '../extract/catalog';": 'imports/ writes files into staging' },
    allowed: ["import type { SourceDefinition } from '../sources/definition';"],
  },
  {
    file: 'sources/planted.ts',
    refused: { "import { readColumns } from '../extract/catalog';": 'sources/ defines and stores sources' },
    allowed: ["import { createPool } from '../lib/db';"],
  },
  {
    file: 'transform/planted.ts',
    refused: { "import { runImport } from '../imports/engine';": 'does not import imports/' },
    allowed: ["import { currentView } from '../extract/catalog';"],
  },
  {
    file: 'carts/planted.ts',
    refused: { "import { createActivities } from '../activities';": 'activities/carts.ts wires it' },
    allowed: ["import type { CartSnapshot } from '../contracts/cart-activities';"],
  },
];

/**
 * Lints each case's imports with the project's ESLint config, in one ESLint process (its config is an
 * ES module jest cannot load). Type-aware rules are turned off there: these cases are about imports.
 */
function lintCases(
  cases: Case[],
): { file: string; messages: { ruleId: string; line: number; message: string }[] }[] {
  const inputs = cases.map((c) => ({
    file: c.file,
    text: [...Object.keys(c.refused), ...c.allowed].join('\n') + '\n',
  }));
  const script = `
    import { ESLint } from 'eslint';
    const inputs = JSON.parse(await new Promise((resolve) => { let s = ''; process.stdin.on('data', (d) => (s += d)); process.stdin.on('end', () => resolve(s)); }));
    const eslint = new ESLint({
      overrideConfig: {
        languageOptions: { parserOptions: { projectService: false, project: null } },
        rules: { '@typescript-eslint/no-floating-promises': 'off' },
      },
    });
    const out = [];
    for (const input of inputs) {
      const [result] = await eslint.lintText(input.text, { filePath: input.file });
      out.push({ file: input.file, messages: result.messages.map(({ ruleId, line, message }) => ({ ruleId, line, message })) });
    }
    process.stdout.write(JSON.stringify(out));
  `;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: projectRoot,
    input: JSON.stringify(inputs),
    encoding: 'utf8',
  });
  if (run.status !== 0) throw new Error(`ESLint failed: ${run.stderr}`);
  return JSON.parse(run.stdout);
}

describe('the room import rules (DESIGN.md, Code layout)', () => {
  let results: ReturnType<typeof lintCases>;
  beforeAll(() => {
    results = lintCases(CASES);
  });

  /** The lines the import rule refused in case i, with its message. */
  const refusedIn = (i: number) =>
    new Map(
      results[i].messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => [m.line, m.message]),
    );

  it.each(CASES.map((c, i) => [c.file, i] as const))(
    '%s: refuses what its room may not import',
    (_file, i) => {
      const refused = refusedIn(i);
      Object.values(CASES[i].refused).forEach((words, line) =>
        expect(refused.get(line + 1)).toContain(words),
      );
    },
  );

  it.each(CASES.map((c, i) => [c.file, i] as const))('%s: allows what its room may import', (_file, i) => {
    const first = Object.keys(CASES[i].refused).length + 1;
    expect([...refusedIn(i).keys()].filter((line) => line >= first)).toEqual([]);
  });
});
