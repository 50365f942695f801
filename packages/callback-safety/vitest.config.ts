import { defineProject } from 'vitest/config'

export default defineProject({
  test: { name: 'callback-safety', include: ['test/**/*.test.ts'] },
})
