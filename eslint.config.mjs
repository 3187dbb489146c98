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
const ML_FORBIDDEN_ROOMS = '^(\\.\\./)+(lib|activities|workflows|server|cli)(/|$)';

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
);
