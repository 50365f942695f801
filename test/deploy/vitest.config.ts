import { defineProject } from 'vitest/config'

// No Docker engine, no cluster, no network. Renders k8s/ with kubectl when it is on the PATH and
// always with the built-in renderer (see src/kustomize.ts). Needs the built workspace (`pnpm build`)
// and, for test/image.test.ts, a RabbitMQ and Redis from test-kit (AMQP_URL / REDIS_URL, ...), like the
// services' own tests: it assembles each image's folder with the Dockerfile's commands and starts it.
export default defineProject({
  test: {
    name: 'deploy',
    include: ['test/**/*.test.ts'],
    globalSetup: ['@arrivals/test-kit/global-setup'],
    testTimeout: 60_000,
  },
})
