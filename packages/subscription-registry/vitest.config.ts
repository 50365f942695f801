import { defineProject } from 'vitest/config'

export default defineProject({
  test: {
    name: 'subscription-registry',
    include: ['test/**/*.test.ts'],
    globalSetup: ['@arrivals/test-kit/global-setup'],
    testTimeout: 20_000,
  },
})
