import { defineProject } from 'vitest/config'

// Offline: no broker, no Redis, no network. Renders k8s/ with kubectl when it is on the PATH and
// always with the built-in renderer (see src/kustomize.ts).
export default defineProject({
  test: {
    name: 'deploy',
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
  },
})
