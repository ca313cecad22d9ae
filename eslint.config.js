import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * The adapters (functions/, batch/, local/, cli/) import core/ and labelling/, never one another.
 * Two hosts reach another adapter through its public entry only: the local stack runs the Lambda
 * handlers in-process (functions/index.ts), the CLI mounts the batch command (batch/index.ts).
 */
const ADAPTERS = ['functions', 'batch', 'local', 'cli'];
// An adapter may use another's public index: the local stack hosts the Lambda handlers and runs
// its decoding and inference on the batch worker's threads; the CLI mounts the batch command.
const HOSTED = { local: ['functions', 'batch'], cli: ['batch'] };
const adapterBoundaries = ADAPTERS.map((self) => ({
  files: [`${self}/**/*.ts`],
  rules: {
    'no-restricted-imports': ['error', {
      patterns: [{
        group: ADAPTERS.filter((a) => a !== self).flatMap((a) => [`**/${a}/**`, ...((HOSTED[self] ?? []).includes(a) ? [`!**/${a}/index.js`] : [])]),
        message: 'An adapter imports core/ and labelling/, not another adapter (see the Architecture section of README.md).',
      }],
    }],
  },
}));

export default tseslint.config(
  { ignores: ['dist/**', 'cdk.out/**', 'node_modules/**', 'coverage/**', '.cache/**', 'layers/build/**', '.local-stack/**', '.gpu/**', '.gl/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  ...adapterBoundaries,
  {
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
);
