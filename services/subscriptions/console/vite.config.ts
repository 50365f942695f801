import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'

// The console is built into the service's own dist/, so whatever ships dist/ (pnpm deploy, the
// image) carries it. Served under /console/ with hashed file names (cached for a year, immutable).
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/console/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/console', import.meta.url)),
    emptyOutDir: true,
    // No inline polyfill script: the Content-Security-Policy allows none, and every supported browser has modulepreload.
    modulePreload: { polyfill: false },
    // Small enough that an inlined data: asset is never worth a CSP exception.
    assetsInlineLimit: 0,
    target: 'es2022',
    reportCompressedSize: false,
  },
})
