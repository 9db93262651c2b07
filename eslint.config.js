// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.data/**', 'coverage/**', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      globals: { ...globals.node },
      parserOptions: { projectService: { allowDefaultProject: ['eslint.config.js'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Template literals with numbers are common and readable in log and SQL text.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      // Express 5 handlers are async; returning a promise to Express is how it catches errors.
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    // The platform holds no business rules: features pass theirs in (RouteDeps, built in src/app.ts).
    files: ['src/platform/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/features/**', '**/features'], message: 'platform/ must not import from features/: pass the rule in (see RouteDeps).' }] },
      ],
    },
  },
  {
    // One transaction entry point: src/platform/db/tx.ts. Request work gets its `tx` from the route
    // pipeline (src/platform/http/route.ts); background work opens through tx.ts. The telemetry
    // wrapper implements Database (it forwards withAppTx, it opens nothing of its own).
    files: ['src/**/*.ts'],
    ignores: ['src/platform/db/**', 'src/platform/telemetry/database.ts', '**/*.test.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        { selector: "CallExpression[callee.property.name=/^with(App|System)Tx$/]", message: 'Open transactions through src/platform/db/tx.ts; request handlers get `tx` from their route.' },
      ],
    },
  },
  {
    // Services run in the transaction their route declares and take the narrow dependencies they use.
    // Alert ingestion is the exception that opens its own: a routing-key route outside RouteRegistry
    // that runs each event in a transaction of its own and retries a deadlock victim.
    files: ['src/features/**/*.service.ts'],
    ignores: ['src/features/alerts/ingest.service.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['**/db/tx.js'], message: 'A service takes `tx`: the route declares its transaction (route.ts), it never opens one.' },
            { group: ['**/deps.js'], importNames: ['FeatureDeps', 'AppDeps'], message: 'A service takes the narrow dependencies it uses (e.g. { mail }, { hasher }), not FeatureDeps.' },
          ],
        },
      ],
    },
  },
  {
    files: ['src/features/**/*.routes.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/db/tx.js'], message: 'A handler gets `tx` from its route declaration (route.ts); it never opens a transaction.' }] },
      ],
    },
  },
  {
    files: ['eslint.config.js'],
    ...tseslint.configs.disableTypeChecked,
  },
);
