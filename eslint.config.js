import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.cache/**', 'test-artifacts/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'warn',
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    // The report's browser script: a classic script (no modules) inlined into the HTML after uPlot.
    files: ['src/report/assets/client.js'],
    languageOptions: {
      sourceType: 'script',
      ecmaVersion: 2017,
      globals: Object.fromEntries(
        ['window', 'document', 'console', 'performance', 'atob', 'devicePixelRatio', 'ResizeObserver', 'requestAnimationFrame', 'uPlot'].map((g) => [g, 'readonly']),
      ),
    },
    // Written in ES5 style (function expressions, `var g = this` for closures).
    rules: { '@typescript-eslint/no-this-alias': 'off' },
  },
);
