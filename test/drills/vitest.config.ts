import { defineProject } from 'vitest/config'

// The drills stop and start brokers: each file runs its own RabbitMQ node and Redis server on free
// ports, one file at a time, so they never disturb the shared services or the other tests, and the
// machine's cores are not shared between two drills' thousands of events.
export default defineProject({
  test: {
    name: 'drills',
    include: ['test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 120_000,
  },
})
