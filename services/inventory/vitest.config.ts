import { defineProject } from 'vitest/config'

export default defineProject({
  test: {
    name: 'inventory',
    include: ['test/**/*.test.ts'],
    globalSetup: ['@arrivals/test-kit/global-setup'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
})
