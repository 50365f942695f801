import { defineProject } from 'vitest/config'

export default defineProject({
  test: {
    name: 'subscriptions',
    include: ['test/**/*.test.ts'],
    globalSetup: ['@arrivals/test-kit/global-setup'],
    // Real RabbitMQ and Redis on a shared, busy machine: generous.
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
})
