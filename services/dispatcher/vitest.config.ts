import { defineProject } from 'vitest/config'

export default defineProject({
  test: {
    name: 'dispatcher',
    include: ['test/**/*.test.ts'],
    globalSetup: ['@arrivals/test-kit/global-setup'],
    // Real broker, real HTTP, retries on a short schedule: generous, the machine is shared.
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
})
