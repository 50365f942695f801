import { defineProject } from 'vitest/config'

// The three services run as real processes (node services/<name>/dist/server.js): `pnpm build` first.
export default defineProject({
  test: {
    name: 'e2e',
    include: ['test/**/*.test.ts'],
    globalSetup: ['@arrivals/test-kit/global-setup'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
})
