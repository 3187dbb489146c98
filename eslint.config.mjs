// @ts-check
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Workflow code is replayed: it must not do I/O, so it may not import Node built-ins or I/O packages. */
const IO_MODULES = [
  ...new Set([
    'pg',
    'pg-copy-streams',
    'knex',
    'mysql2',
    'mysql2/*',
    'nodemailer',
    'smtp-server',
    'mailparser',
    'fastify',
    'csv-parse',
    'csv-parse/*',
    '@tensorflow/*',
    '@temporalio/client',
    '@temporalio/worker',
    '@temporalio/activity',
    'node:*',
    // Every Node built-in without the prefix too (`fs`, `stream`, `zlib`, `events`, `util`, `url`, …), and its subpaths.
    ...builtinModules.filter((m) => !m.startsWith('_')).flatMap((m) => [m, `${m}/*`]),
  ]),
];

/** Model code computes on arrays and tensors; activities read and write (DESIGN.md, Code layout). */
const ML_FORBIDDEN_MESSAGE = 'ml/ computes; activities read and write: pass arrays in from an activity.';
const ML_FORBIDDEN_MODULES = [
  'pg',
  'pg-copy-streams',
  'knex',
  'mysql2',
  'mysql2/*',
  'node:*',
  'fs',
  'path',
  '@temporalio/*',
];
/** Relative imports of the rooms that do I/O or orchestrate, from any depth under ml/. */
const ML_FORBIDDEN_ROOMS =
  '^(\\.\\./)+(lib|activities|workflows|server|cli|workers|extract|imports|sources|transform|carts)(/|$)';

/**
 * What may import what (DESIGN.md, Code layout). Each entry: the room, the rooms it may not import
 * (relative imports from any depth), and why. The data-moving rooms go one way: sources/ (definitions)
 * <- extract/ (reads sources into staging) <- transform/ (staging to core; it reads extract's staged
 * tables' names and checks); imports/ writes staging from files beside extract/ and imports neither
 * it nor transform/. None of them imports activities/, which wires them for the workers.
 */
const ROOM_RULES = [
  {
    files: ['carts/**/*.ts'],
    forbidden: ['activities', 'workflows', 'workers', 'server', 'cli', 'ml'],
    message:
      'carts/ holds the cart logic; activities/carts.ts wires it, workflows call it through activities.',
  },
  {
    files: ['extract/**/*.ts'],
    forbidden: ['activities', 'imports', 'transform', 'workflows', 'workers', 'server', 'cli', 'carts'],
    message: 'extract/ reads sources into staging: it imports sources/, lib/ and contracts/ only.',
  },
  {
    files: ['imports/**/*.ts'],
    forbidden: ['activities', 'extract', 'transform', 'workflows', 'workers', 'server', 'cli', 'carts'],
    message: 'imports/ writes files into staging: it imports sources/, lib/ and contracts/ only.',
  },
  {
    files: ['sources/**/*.ts'],
    forbidden: [
      'activities',
      'extract',
      'imports',
      'transform',
      'workflows',
      'workers',
      'server',
      'cli',
      'carts',
    ],
    message: 'sources/ defines and stores sources: it imports lib/ and contracts/ only.',
  },
  {
    files: ['transform/**/*.ts'],
    forbidden: ['imports', 'workflows', 'workers', 'server', 'cli', 'carts'],
    message: 'transform/ reads staging (extract/, sources/) into core: it does not import imports/.',
  },
];
const roomPattern = (forbidden) => `^(\\.\\./)+(${forbidden.join('|')})(/|$)`;

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      '.cartflow/**',
      'coverage/**',
      'dashboard/vendor/**',
      '**/*.js',
      '**/*.mjs',
      'bin/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: IO_MODULES, message: 'Workflow code must be deterministic: do I/O in an activity.' },
            {
              group: ['../activities/*', '../activities'],
              allowTypeImports: true,
              message: 'Workflows import activities as types only (import type).',
            },
            {
              regex: '^(\\.\\./)+(?!\\.\\./)(?!(contracts|activities)(/|$))',
              message: 'Workflows import contracts/ and activity types only.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['ml/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ML_FORBIDDEN_MODULES, message: ML_FORBIDDEN_MESSAGE },
            { regex: ML_FORBIDDEN_ROOMS, message: ML_FORBIDDEN_MESSAGE },
          ],
        },
      ],
      'no-restricted-properties': [
        'error',
        {
          object: 'process',
          property: 'env',
          message: 'ml/ takes its settings as arguments, never from process.env.',
        },
      ],
    },
  },
  {
    files: ['contracts/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: '^\\.\\./', message: 'contracts/ is pure and imports nothing of ours.' },
            { group: IO_MODULES, message: 'contracts/ is pure: no I/O packages, no Node built-ins.' },
          ],
        },
      ],
    },
  },
  {
    files: ['server/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(\\.\\./)+ml(/|$)',
              message: 'server/ serves precomputed tables: models are fitted by the ml worker, never here.',
            },
            {
              // A workflow's own module is its public face (the workflow, its signals and queries).
              regex: '^(\\.\\./)+workflows/(?!(cart|daily-pipeline|models)$)',
              message: "server/ reaches a workflow through its module's workflow, signals and queries only.",
            },
          ],
        },
      ],
    },
  },
  ...ROOM_RULES.map(({ files, forbidden, message }) => ({
    files,
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: roomPattern(forbidden), message }] }],
    },
  })),
);
