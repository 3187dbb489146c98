// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Workflow code is replayed: it must not do I/O, so it may not import Node built-ins or I/O packages. */
const IO_MODULES = [
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
  'fs',
  'path',
  'os',
  'net',
  'http',
  'https',
  'crypto',
  'child_process',
];

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
);
