// One lint setup for the whole repository. Beyond style, it keeps the architecture's walls up:
// no service imports another, contracts stay free of fastify, and only a service's settings
// module reads the environment, only packages/messaging talks AMQP, and only the subscription registry
// knows the subscription key layout.
import js from '@eslint/js'
import stylistic from '@stylistic/eslint-plugin'
import globals from 'globals'
import tseslint from 'typescript-eslint'

const services = ['inventory', 'subscriptions', 'dispatcher']

// One broker client: reconnects, failover, confirms and verdicts live in packages/messaging only.
const amqplibOnlyInMessaging = { name: 'amqplib', message: 'Use @arrivals/messaging, the one AMQP client.' }
// Who may still import amqplib, and why. Keep this list short.
const amqplibAllowed = [
  'packages/messaging/**',
  // The benchmark's bare-amqplib contenders are the baseline by design; its harness inspects queues.
  'bench/**',
  // Tests and their kit read, purge and delete queues behind the client's back.
  '**/test/**', 'test/**', 'packages/test-kit/**',
]
// Subscriptions, attempts, failures and dead letters are read and written through
// @arrivals/subscription-registry only. Tests may look at Redis through its layout module; sources never.
// A rule of its own (typescript-eslint's copy of no-restricted-imports), so the blocks below that
// replace no-restricted-imports per folder do not drop it.
const registryLayout = {
  name: '@arrivals/subscription-registry/layout',
  message: 'Sources use the registry\'s API; its key layout is for the registry and for tests.',
}
const layoutAllowed = ['packages/subscription-registry/**']
const packageWalls = [
  { group: ['fastify', 'fastify-*', '@fastify/*'], message: 'This package stays free of fastify.' },
  { group: ['@arrivals/inventory', '@arrivals/subscriptions', '@arrivals/dispatcher'], message: 'Packages import no service.' },
]

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'connector/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  // One formatter for the whole repository, in the lint step that already runs everywhere: ESLint's
  // stylistic rules set to the style the code is written in (no semicolons, single quotes, two
  // spaces, trailing commas on multi-line lists), so `eslint --fix` formats and nothing else is needed.
  // Prettier would also wrap the long single-line schemas and tables at a print width, a rewrite of most
  // files for no reader's gain.
  stylistic.configs.customize({ indent: 2, quotes: 'single', semi: false, jsx: true, braceStyle: '1tbs', commaDangle: 'always-multiline', arrowParens: true }),
  {
    rules: {
      // Kept as written: short objects and arrays on one line, long ones one entry per line.
      '@stylistic/max-statements-per-line': 'off',
      '@stylistic/multiline-ternary': 'off',
      '@stylistic/list-style': 'off',
      '@stylistic/operator-linebreak': 'off',
      '@stylistic/jsx-one-expression-per-line': 'off',
      // Types written inline take semicolons (`{ ok: true; event: ArrivalsEvent }`), multi-line ones none.
      '@stylistic/member-delimiter-style': ['error', { multiline: { delimiter: 'none' }, singleline: { delimiter: 'semi', requireLast: false } }],
      '@stylistic/quote-props': ['error', 'as-needed', { unnecessary: false }],
      '@stylistic/quotes': ['error', 'single', { avoidEscape: true, allowTemplateLiterals: 'always' }],
    },
  },
  // Promises are not fire-and-forget by accident: typed rules over every TypeScript file.
  {
    files: ['**/*.ts', '**/*.tsx'],
    languageOptions: {
      parserOptions: {
        project: ['./packages/*/tsconfig.json', './services/*/tsconfig.json', './services/subscriptions/console/tsconfig.json', './tsconfig.test.json'],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      // An async handler on a JSX attribute is the console's way to act on a click; each catches its own errors.
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { attributes: false } }],
    },
  },
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'error',
    },
  },
  {
    files: ['**/*.{ts,js,mjs}'],
    ignores: amqplibAllowed,
    rules: { 'no-restricted-imports': ['error', { paths: [amqplibOnlyInMessaging] }] },
  },
  {
    files: ['**/*.{ts,js,mjs}'],
    ignores: layoutAllowed,
    rules: { '@typescript-eslint/no-restricted-imports': ['error', { paths: [registryLayout] }] },
  },
  {
    // Tests may look at Redis through the registry's layout.
    files: ['**/test/**/*.ts', 'test/**'],
    rules: { '@typescript-eslint/no-restricted-imports': 'off' },
  },
  ...services.map((service) => ({
    files: [`services/${service}/src/**/*.ts`],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [amqplibOnlyInMessaging],
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
    files: ['packages/contracts/src/**/*.ts', 'packages/callback-safety/src/**/*.ts', 'packages/messaging/src/**/*.ts', 'packages/subscription-registry/src/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: [amqplibOnlyInMessaging], patterns: packageWalls }],
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'Packages take settings as arguments.' }],
    },
  },
  {
    // The package that may import amqplib keeps the other walls.
    files: ['packages/messaging/src/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: packageWalls }] },
  },
  // The dispatcher's pipeline (runtime, stages, policies, adapters) knows nothing of fastify; the stages
  // and policies know no adapter, broker or Redis client either: they see the ports (src/ports.ts).
  // These blocks repeat the service walls above, since a later block's rule replaces an earlier one's.
  ...[
    { paths: ['runtime/**', 'adapters/**', 'delivery/**'], walls: [{ group: ['amqplib'], message: 'Use @arrivals/messaging, the one AMQP client.' }] },
    {
      paths: ['stages/**', 'policies/**', 'ports.ts', 'messages.ts', 'metrics.ts'],
      walls: [{ group: ['**/adapters/**', '**/runtime/**', 'amqplib', 'ioredis', 'undici'], message: 'Stages and policies reach the outside through src/ports.ts only.' }],
    },
  ].map(({ paths, walls }) => ({
    files: paths.map((path) => `services/dispatcher/src/${path}`),
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['fastify', 'fastify-*', '@fastify/*', '**/app.js', '**/plugins/**', '**/routes/**'], message: 'The delivery pipeline knows nothing of fastify.' },
          ...walls,
          { group: services.filter((s) => s !== 'dispatcher').map((s) => `@arrivals/${s}`), message: 'Services meet on the broker, in Redis and over HTTP; shared code goes to packages/.' },
          { group: ['**/services/**', '../../*/src/**'], message: 'Services never import each other.' },
          { group: ['@arrivals/test-kit'], message: 'The test kit is for tests only.' },
        ],
      }],
    },
  })),
  {
    files: ['**/test/**/*.ts', 'packages/test-kit/**', 'bench/**', 'scripts/**', '.ci/**', 'test/**'],
    rules: { 'no-console': 'off', '@typescript-eslint/no-non-null-assertion': 'off' },
  },
)
