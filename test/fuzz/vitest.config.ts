import { defineProject } from 'vitest/config'

// Fuzzes the services as real processes (node services/<name>/dist/server.js): `pnpm build` first.
export default defineProject({
  test: {
    name: 'fuzz',
    include: ['test/**/*.test.ts'],
    globalSetup: ['@arrivals/test-kit/global-setup'],
    testTimeout: 240_000,
    hookTimeout: 60_000,
  },
})
