import tseslint from 'typescript-eslint';

/**
 * The files every decision runs through (PDP, SDK local mode, PEP cache). Node.js 20's V8 makes
 * an object that begins as the spread of a non-empty object slow to extend (`{...a, b}`,
 * `{...a, ...b}`: about 1 µs each, bench/RESULTS.md "Object spread on the decision path"), so
 * here such a literal is refused; core's `withEntry` and `mergeRecords` (records.ts) say the
 * same without it. A lone spread (`{...a}`, a plain copy) and a spread after other
 * properties (`{a, ...b}`) are fast and allowed.
 */
export const HOT_PATH_FILES = [
  'packages/core/src/decision-pipeline.ts',
  'packages/core/src/request-entities.ts',
  'packages/core/src/entity-slice.ts',
  'packages/core/src/authzen.ts',
  'packages/core/src/cedar-value.ts',
  'packages/core/src/risk.ts',
  'packages/core/src/risk-assessment.ts',
  'packages/core/src/activity.ts',
  'packages/core/src/activity-state.ts',
  'packages/core/src/cedar/cedar-engine.ts',
  'packages/core/src/cedar/compiled/*.ts',
  'packages/server/src/decision-service.ts',
  'packages/server/src/risk-context.ts',
  'packages/server/src/step-up.ts',
  'packages/server/src/workload-gate.ts',
  'packages/server/src/entity-service.ts',
  'packages/server/src/http/authzen-routes.ts',
  'packages/server/src/risk/activity-service.ts',
  'packages/enforce/src/enforcer.ts',
  'packages/enforce/src/decision-cache.ts',
  'packages/enforce/src/bundle-decider.ts',
  'packages/enforce/src/remote-source.ts',
  'packages/core/src/policy-annotations.ts',
  'packages/server/src/search-service.ts',
  'packages/server/src/gateway/gateway-decider.ts',
];

export default tseslint.config(
  { ignores: ['**/node_modules/**', '.verity-data/**', 'packages/*/dist/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: HOT_PATH_FILES,
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: 'ObjectExpression[properties.length>1] > SpreadElement:first-child',
          message: 'A spread followed by more properties costs about 1 µs on Node.js 20: use withEntry or mergeRecords from @verity/core (records.ts).',
        },
      ],
    },
  },
  {
    // Tests assert on parsed JSON response bodies by value; typing every body adds noise, not safety.
    files: ['**/*.test.ts', 'e2e/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
