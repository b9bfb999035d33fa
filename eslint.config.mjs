// Lint rules the type checker cannot express, run by `npm test` (npm run lint).
// (.eslintrc.json exists only because import-x's no-unused-modules still reads its ignorePatterns:
// https://github.com/import-js/eslint-plugin-import/issues/3079.)
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

export default tseslint.config({
  files: ['src/**/*.ts'],
  languageOptions: {
    parser: tseslint.parser,
    parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
  },
  plugins: { '@typescript-eslint': tseslint.plugin, 'import-x': importX },
  settings: {
    'import-x/resolver-next': [createTypeScriptImportResolver({ project: 'tsconfig.test.json' })],
    'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
  },
  rules: {
    // A promise nobody awaits loses its error (an unhandled rejection) and its ordering.
    '@typescript-eslint/no-floating-promises': 'error',
    '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false, attributes: false } }],
    '@typescript-eslint/no-explicit-any': 'error',
    // An export nothing imports (not src, tests, evals nor benches) is dead code; the public API
    // (src/index.ts) and the CLI entry are the exceptions.
    'import-x/no-unused-modules': [
      'error',
      {
        unusedExports: true,
        src: ['src/**/*.ts', 'test/**/*.ts', 'eval/**/*.ts', 'bench/*.ts', 'bench/lib/**/*.ts'],
        ignoreExports: ['src/index.ts', 'src/cli/main.ts'],
      },
    ],
  },
});
