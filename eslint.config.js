// One lint setup for the whole repository. Beyond style, it keeps the architecture's walls up:
// no service imports another, contracts stay free of fastify, only a service's settings module
// reads the environment, and only the subscription registry knows the subscription key layout.
import js from '@eslint/js'
import globals from 'globals'
import tseslint from 'typescript-eslint'

const services = ['inventory', 'subscriptions', 'dispatcher']

// Subscriptions, attempts, failures and dead letters are read and written through
// @arrivals/subscription-registry only. Tests may look at Redis through its layout module; sources never.
const contractsLayout = {
  name: '@arrivals/contracts',
  importNames: ['redisKeys', 'RedisKeys', 'historyLimits'],
  message: 'Only @arrivals/subscription-registry knows the subscription key layout; use the registry (inventoryKeys for inventory\'s keys).',
}
const registryLayout = {
  name: '@arrivals/subscription-registry/layout',
  message: 'Sources use the registry\'s API; its key layout is for the registry and for tests.',
}
// The dispatcher still reads and writes through contracts' copy of the layout; it moves onto the
// registry next (issue 12), and then this exemption and contracts' redisKeys go.
const layoutExempt = (service) => service === 'dispatcher'

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'connector/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.{ts,js,mjs}'],
    rules: { 'no-restricted-imports': ['error', { paths: [contractsLayout, registryLayout] }] },
  },
  {
    files: ['**/test/**/*.ts', 'test/**'],
    rules: { 'no-restricted-imports': ['error', { paths: [contractsLayout] }] },
  },
  {
    files: ['services/dispatcher/test/**', 'packages/subscription-registry/**'],
    rules: { 'no-restricted-imports': 'off' },
  },
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'error',
    },
  },
  ...services.map((service) => ({
    files: [`services/${service}/src/**/*.ts`],
    rules: {
      'no-restricted-imports': ['error', {
        paths: layoutExempt(service) ? [] : [contractsLayout, registryLayout],
        patterns: [
          { group: services.filter((s) => s !== service).map((s) => `@arrivals/${s}`), message: 'Services meet on the broker, in Redis and over HTTP; shared code goes to packages/.' },
          { group: ['**/services/**', '../../*/src/**'], message: 'Services never import each other.' },
          { group: ['@arrivals/test-kit'], message: 'The test kit is for tests only.' },
        ],
      }],
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'Read settings in src/settings.ts only.' }],
    },
  })),
  {
    files: ['services/*/src/settings.ts', 'services/*/src/server.ts'],
    rules: { 'no-restricted-properties': 'off' },
  },
  {
    files: ['packages/contracts/src/**/*.ts', 'packages/callback-safety/src/**/*.ts', 'packages/subscription-registry/src/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['fastify', 'fastify-*', '@fastify/*'], message: 'This package stays free of fastify.' },
          { group: ['@arrivals/inventory', '@arrivals/subscriptions', '@arrivals/dispatcher'], message: 'Packages import no service.' },
        ],
      }],
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'Packages take settings as arguments.' }],
    },
  },
  {
    files: ['services/dispatcher/src/delivery/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [{ group: ['fastify', 'fastify-*', '@fastify/*', '../app.js', '../plugins/**', '../routes/**'], message: 'The delivery pipeline knows nothing of fastify.' }],
      }],
    },
  },
  {
    files: ['**/test/**/*.ts', 'packages/test-kit/**', 'bench/**', 'scripts/**', '.ci/**', 'test/**'],
    rules: { 'no-console': 'off', '@typescript-eslint/no-non-null-assertion': 'off' },
  },
)
