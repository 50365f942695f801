import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { repoRoot } from '../src/kustomize.js'

type Workflow = { on: Record<string, unknown>; jobs: Record<string, { services?: Record<string, { image: string }>; steps: { run?: string; uses?: string; with?: Record<string, string> }[]; strategy?: { matrix: Record<string, string[]> } }> }
const read = (name: string) => parse(readFileSync(join(repoRoot, '.github/workflows', name), 'utf8')) as Workflow

describe('GitHub Actions workflows', () => {
  it('ci runs lint, typecheck and pnpm test against RabbitMQ and Redis service containers', () => {
    const { jobs } = read('ci.yml')
    const test = jobs.test!
    expect(test.services!.rabbitmq!.image).toMatch(/^rabbitmq:4\./)
    expect(test.services!.redis!.image).toMatch(/^redis:/)
    const runs = test.steps.map((step) => step.run).filter((run): run is string => run !== undefined)
    expect(runs.slice(-4)).toEqual(['pnpm install --frozen-lockfile', 'pnpm lint', 'pnpm typecheck', 'pnpm test'])
    // What the test command needs beyond the service containers: the drills' own broker binaries,
    // and Microsoft's connector schemas (../shared/ppc-schemas on the project's machines).
    expect(runs.some((run) => /apt-get install .*rabbitmq-server.*redis-server/.test(run))).toBe(true)
    expect(runs.some((run) => run.includes('PPC_SCHEMAS_DIR=') && run.includes('apiDefinition.swagger.schema.json'))).toBe(true)
  })

  it('images builds and pushes every service from the Dockerfile on version tags', () => {
    const workflow = read('images.yml')
    expect(workflow.on).toEqual({ push: { tags: ['v*.*.*'] } })
    const image = workflow.jobs.image!
    expect(image.strategy!.matrix.service).toEqual(['inventory', 'subscriptions', 'dispatcher'])
    const build = image.steps.find((step) => step.uses?.startsWith('docker/build-push-action'))!
    expect(build.with!.push).toBe(true)
    expect(build.with!['build-args']).toContain('SERVICE=${{ matrix.service }}')
  })
})
