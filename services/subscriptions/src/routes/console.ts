import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import fastifyStatic from '@fastify/static'
import type { FastifyPluginAsync } from 'fastify'

/** Where `pnpm build` puts the console (console/vite.config.ts), from src/ and from dist/ alike. */
const BUILT_CONSOLE = fileURLToPath(new URL('../../dist/console/', import.meta.url))

/**
 * No inline script or style anywhere (the build emits none), nothing from another origin, never in
 * a frame: a key typed into this page cannot be read by injected markup or clickjacked.
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "object-src 'none'",
  "frame-ancestors 'none'",
].join('; ')

/** Hashed file names change with their content, so a year is safe; index.html names them, so it is revalidated. */
const IMMUTABLE = 'public, max-age=31536000, immutable'

/**
 * The operator console at /console/: a static page that loads without a key and then talks to the
 * operator API with the key the operator signs in with. Encapsulated: its headers apply to it only.
 */
const operatorConsole: FastifyPluginAsync<{ root?: string }> = async (app, { root = BUILT_CONSOLE }) => {
  app.addHook('onSend', async (_request, reply) => {
    reply.header('content-security-policy', CONSOLE_CSP)
    reply.header('x-content-type-options', 'nosniff')
    reply.header('referrer-policy', 'no-referrer')
  })
  app.get('/console', { schema: { hide: true } }, (_request, reply) => reply.redirect('/console/', 301))

  if (!existsSync(`${root}/index.html`)) {
    app.log.warn({ root }, 'the operator console is not built; /console/ answers 503 until `pnpm build` builds it')
    app.get('/console/*', { schema: { hide: true } }, async (_request, reply) => reply.code(503).header('cache-control', 'no-store')
      .send({ statusCode: 503, error: 'Service Unavailable', message: 'the operator console was not built with this service: run `pnpm build`' }))
    return
  }
  await app.register(fastifyStatic, {
    root,
    prefix: '/console/',
    cacheControl: false,
    index: 'index.html',
    setHeaders(response, path) {
      response.header('cache-control', path.includes('/assets/') ? IMMUTABLE : 'no-cache')
    },
  })
}

export default operatorConsole
