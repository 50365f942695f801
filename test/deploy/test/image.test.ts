import { spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { createNamespace, freePort, type ServiceProcess } from '@arrivals/test-kit'
import { repoRoot } from '../src/kustomize.js'
import {
  assembleImage, compose, composeEnvironment, imagePlan, readmeStackCommands, readSettingsOf, serviceNames, startImage, statusWhenReady,
} from '../src/runtime.js'

/**
 * Each image without Docker: the Dockerfile's own commands that fill /out (`pnpm deploy --prod` of the
 * one service, then the pruning), run from the repository root against the built workspace, then
 * the image's CMD started in that folder with the compose service's environment (only the broker,
 * Redis, namespace and ports pointed at the test's). It catches what a `docker build` would only
 * show at `docker compose up`: a runtime file missing from a package's `files`, a workspace package
 * not copied in, a dependency left in devDependencies, a CMD that does not start. Then the README's
 * "Run the stack" requests are replayed against the three, with deploy/receiver as the receiver.
 */
const plan = imagePlan()
const scratch = mkdtempSync(join(tmpdir(), 'arrivals-image-'))
const ns = createNamespace('image')
const running = new Map<string, { image: ServiceProcess; port: number }>()
let retryDelaysMs: number[] = []

afterAll(async () => {
  for (const { image } of running.values()) await image.stop()
  rmSync(scratch, { recursive: true, force: true })
  await ns.cleanup({ retryDelaysMs })
})

describe('the Dockerfile', () => {
  it('starts each service as its package.json start script does (same node flags, no shell)', () => {
    for (const service of serviceNames) {
      const { scripts } = JSON.parse(readFileSync(join(repoRoot, 'services', service, 'package.json'), 'utf8')) as { scripts: { start: string } }
      expect(plan.cmd.join(' '), service).toBe(scripts.start)
    }
  })

  it.each(serviceNames)('assembles the %s image with only the runtime files: package.json, node_modules and dist', (service) => {
    const out = join(scratch, service)
    assembleImage(service, out, plan)
    expect(readdirSync(out).sort()).toEqual(['dist', 'node_modules', 'package.json'])
    expect(readdirSync(join(out, 'dist'))).toContain('server.js')
  })
})

describe('the three images with the compose settings', () => {
  it('start and answer /healthz and /readyz', async () => {
    for (const service of serviceNames) {
      const port = await freePort()
      const env = {
        ...composeEnvironment(service),
        AMQP_URL: ns.amqpUrl,
        REDIS_URL: ns.redisUrl,
        NAMESPACE: ns.namespace,
        HOST: '127.0.0.1',
        PORT: String(port),
      }
      const settings = (await readSettingsOf(service))(env)
      if (service === 'dispatcher') retryDelaysMs = settings.retryScheduleMs as number[]
      running.set(service, { image: startImage(join(scratch, service), env, plan), port })
    }
    for (const [service, { image, port }] of running) {
      const ready = await Promise.race([statusWhenReady(`http://127.0.0.1:${port}/readyz`), image.exited.then(() => -1)])
      expect(ready, `${service}: ${image.output()}`).toBe(200)
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status, service).toBe(200)
    }
  })

  it('do what the README\'s "Run the stack" requests say, the webhook reaching the compose receiver', async () => {
    const { requests, others } = readmeStackCommands()
    expect(requests.length).toBeGreaterThanOrEqual(2)
    // The receiver as compose runs it (deploy/receiver, its PORT), on a free port here.
    const receiverService = compose.services.receiver as { command: string[]; environment: Record<string, string> }
    const receiverPort = await freePort()
    const receiver = spawn(process.execPath, [join(repoRoot, 'deploy/receiver/server.mjs')], { env: { PORT: String(receiverPort) }, stdio: ['ignore', 'pipe', 'inherit'] })
    let received = ''
    receiver.stdout.on('data', (chunk: Buffer) => { received += chunk.toString() })
    try {
      await statusWhenReady(`http://127.0.0.1:${receiverPort}/healthz`)
      for (const request of requests) {
        const url = new URL(request.url)
        // localhost:<published port> → the compose service publishing it → that image's port here.
        const service = Object.entries(compose.services).find(([, candidate]) => (candidate.ports ?? []).some((mapping) => mapping.endsWith(`:${url.port}:${url.port}`)))?.[0]
        expect(service, `nothing publishes ${url.host}`).toBeDefined()
        url.host = `127.0.0.1:${running.get(service!)!.port}`
        // The callback names the compose receiver (service name and its PORT); here it listens elsewhere.
        const body = request.body?.replace(/http:\/\/receiver:(\d+)/, (_match, port: string) => {
          expect(port).toBe(receiverService.environment.PORT)
          return `http://127.0.0.1:${receiverPort}`
        })
        const response = await fetch(url, { method: request.method, headers: request.headers, body })
        expect(response.status, `${request.method} ${request.url}: ${await response.clone().text()}`).toBeGreaterThanOrEqual(200)
        expect(response.status).toBeLessThan(300)
      }
      const deadline = Date.now() + 15_000
      while (!received.includes('"webhook received"') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100))
      const line = received.split('\n').find((candidate) => candidate.includes('"webhook received"'))
      expect(line, `no webhook reached the receiver; dispatcher: ${running.get('dispatcher')!.image.output()}`).toBeDefined()
      const webhook = JSON.parse(line!) as { signed: boolean; webhookId: string; body: { storeId: string } }
      expect(webhook.signed).toBe(true)
      expect(webhook.webhookId).toMatch(/^msg_/)
      // The README shows what `docker compose logs receiver` prints.
      const shown = others.find((command) => command.startsWith('docker compose logs receiver'))
      expect(shown).toBeDefined()
      for (const field of ['"msg":"webhook received"', '"signed":true', `"storeId":"${webhook.body.storeId}"`]) expect(shown).toContain(field)
    } finally {
      receiver.kill('SIGTERM')
    }
  })

  it('exit 0 on SIGTERM', async () => {
    for (const [service, { image }] of running) expect(await image.stop(), `${service}: ${image.output()}`).toBe(0)
  })
})
