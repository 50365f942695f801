import { defineConfig } from 'vitest/config'

// The unit loop: decisions on in-memory fakes, no broker, no Redis, no processes. Unit tests live in
// each package's test/unit/ folder; `pnpm test` runs them too, as part of their package's project.
export default defineConfig({
  test: {
    include: ['packages/*/test/unit/**/*.test.ts', 'services/*/test/unit/**/*.test.ts'],
    // Unit tests hold no global state (fakes are made per test), so the files share one module graph:
    // with isolation every file re-imported fastify, TypeBox and the contracts (13 s on 2 cores, 3 s without).
    isolate: false,
  },
})
