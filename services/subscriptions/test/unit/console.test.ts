import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import operatorConsole, { CONSOLE_CSP } from '../../src/routes/console.js'

const built = mkdtempSync(join(tmpdir(), 'arrivals-console-'))
let app: FastifyInstance

beforeAll(async () => {
  mkdirSync(join(built, 'assets'))
  writeFileSync(join(built, 'index.html'), '<!doctype html><script type="module" src="/console/assets/index-Ab12Cd34.js"></script>')
  writeFileSync(join(built, 'assets', 'index-Ab12Cd34.js'), 'console.log(1)')
  app = Fastify()
  await app.register(operatorConsole, { root: built })
  await app.ready()
})
afterAll(async () => {
  await app?.close()
  rmSync(built, { recursive: true, force: true })
})

describe('the console pages', () => {
  it('serves index.html without a key, revalidated every time, under a strict Content-Security-Policy', async () => {
    const page = await app.inject({ method: 'GET', url: '/console/' })
    expect(page.statusCode).toBe(200)
    expect(page.headers['content-type']).toMatch(/^text\/html/)
    expect(page.headers['cache-control']).toBe('no-cache')
    const csp = page.headers['content-security-policy'] as string
    expect(csp).toBe(CONSOLE_CSP)
    expect(csp).toMatch(/default-src 'self'/)
    expect(csp).toMatch(/frame-ancestors 'none'/)
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval/)
    expect(page.headers['x-content-type-options']).toBe('nosniff')
  })

  it('caches hashed assets for a year as immutable', async () => {
    const asset = await app.inject({ method: 'GET', url: '/console/assets/index-Ab12Cd34.js' })
    expect(asset.statusCode).toBe(200)
    expect(asset.headers['cache-control']).toBe('public, max-age=31536000, immutable')
    expect(asset.headers['content-security-policy']).toBe(CONSOLE_CSP)
  })

  it('redirects /console to /console/ and answers 404 for a file that is not there', async () => {
    const bare = await app.inject({ method: 'GET', url: '/console' })
    expect(bare.statusCode).toBe(301)
    expect(bare.headers.location).toBe('/console/')
    expect((await app.inject({ method: 'GET', url: '/console/assets/missing.js' })).statusCode).toBe(404)
    expect((await app.inject({ method: 'GET', url: '/console/../package.json' })).statusCode).not.toBe(200)
  })

  it('answers 503 with what to do when the console was not built', async () => {
    const bare = Fastify()
    await bare.register(operatorConsole, { root: join(built, 'nothing-here') })
    const response = await bare.inject({ method: 'GET', url: '/console/' })
    expect(response.statusCode).toBe(503)
    expect(response.json().message).toMatch(/pnpm build/)
    await bare.close()
  })
})
