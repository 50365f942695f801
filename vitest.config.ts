import { defineConfig } from 'vitest/config'

// One configuration, one project per package. Each project's own vitest.config.ts says
// what it needs (timeouts, serial execution for the fault drills).
export default defineConfig({
  test: {
    projects: ['packages/*/vitest.config.ts', 'services/*/vitest.config.ts', 'test/*/vitest.config.ts'],
  },
})
