import { execFileSync } from 'node:child_process'
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { repoRoot } from '../src/kustomize.js'

type Step = { id?: string; name?: string; run?: string; uses?: string; with?: Record<string, string | boolean>; env?: Record<string, string> }
type Job = { uses?: string; needs?: string | string[]; permissions?: Record<string, string>; services?: Record<string, { image: string }>; steps: Step[]; strategy?: { matrix: Record<string, string[]> } }
type Workflow = { on: Record<string, unknown>; jobs: Record<string, Job> }
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

/** Runs a workflow step's shell script in the repository with a stand-in `docker` on the PATH. */
function runStep(script: string, dockerfile: string): Record<string, string> {
  const dir = mkdtempSync(join(tmpdir(), 'arrivals-workflow-'))
  try {
    writeFileSync(join(dir, 'Dockerfile'), dockerfile)
    writeFileSync(join(dir, 'docker'), `#!/bin/sh\necho '{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:${'ab'.repeat(32)}","size":1}'\n`)
    chmodSync(join(dir, 'docker'), 0o755)
    writeFileSync(join(dir, 'out'), '')
    execFileSync('bash', ['-e', '-c', script], { cwd: dir, env: { PATH: `${dir}:${process.env.PATH}`, GITHUB_OUTPUT: join(dir, 'out') } })
    return Object.fromEntries(readFileSync(join(dir, 'out'), 'utf8').trim().split('\n').map((line) => line.split(/=(.*)/s).slice(0, 2) as [string, string]))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

describe('supply chain', () => {
  const ci = read('ci.yml')
  const images = read('images.yml')
  const step = (job: Job, uses: string) => job.steps.find((candidate) => candidate.uses?.startsWith(uses))
  const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8')

  it('builds, checks and scans every image on every pull request, and keeps its SBOM', () => {
    expect(ci.on).toHaveProperty('pull_request')
    const job = ci.jobs.images!
    expect(job.strategy!.matrix.service).toEqual(['inventory', 'subscriptions', 'dispatcher'])
    const build = step(job, 'docker/build-push-action')!
    expect(build.with!.push).toBe(false)
    expect(build.with!['build-args']).toContain('NODE_IMAGE=${{ steps.base.outputs.image }}')
    expect(job.steps.some((candidate) => candidate.run?.includes('command -v npm'))).toBe(true)
    const scan = step(job, 'aquasecurity/trivy-action')!
    expect(scan.with).toMatchObject({ 'exit-code': '1', severity: 'CRITICAL,HIGH' })
    expect(step(job, 'anchore/sbom-action')!.with!.image).toBe('arrivals-${{ matrix.service }}:ci')
  })

  it('releases only after ci.yml (tests and image scans) passed, pinned, with SBOM and provenance, scanned, then signed by digest', () => {
    expect(images.jobs.test!.uses).toBe('./.github/workflows/ci.yml')
    expect(ci.on).toHaveProperty('workflow_call')
    const job = images.jobs.image!
    expect(job.needs).toBe('test')
    expect(job.permissions).toMatchObject({ 'id-token': 'write', packages: 'write' })
    const build = step(job, 'docker/build-push-action')!
    expect(build.with).toMatchObject({ sbom: true, provenance: 'mode=max' })
    expect(build.with!['build-args']).toContain('NODE_IMAGE=${{ steps.base.outputs.image }}')
    const order = (predicate: (candidate: Step) => boolean) => job.steps.findIndex(predicate)
    const scanAt = order((candidate) => candidate.uses?.startsWith('aquasecurity/trivy-action') === true)
    const signAt = order((candidate) => candidate.run?.startsWith('cosign sign') === true)
    expect(scanAt).toBeGreaterThan(order((candidate) => candidate === build))
    expect(signAt).toBeGreaterThan(scanAt)
    expect(job.steps[signAt]!.env!.IMAGE).toMatch(/@\$\{\{ steps\.build\.outputs\.digest \}\}$/)
    expect(step(job, 'sigstore/cosign-installer')).toBeDefined()
  })

  it('passes the base image by digest: resolved from the Dockerfile\'s tag, or the Dockerfile\'s own pin as it is', () => {
    for (const job of [ci.jobs.images!, images.jobs.image!]) {
      const script = job.steps.find((candidate) => candidate.id === 'base')!.run!
      const tag = /^ARG NODE_IMAGE=(.*)$/m.exec(dockerfile)![1]!
      expect(runStep(script, dockerfile).image).toBe(`${tag}@sha256:${'ab'.repeat(32)}`)
      const pinned = dockerfile.replace(/^ARG NODE_IMAGE=.*$/m, `ARG NODE_IMAGE=${tag}@sha256:${'cd'.repeat(32)}`)
      expect(runStep(script, pinned).image).toBe(`${tag}@sha256:${'cd'.repeat(32)}`)
    }
  })

  it('exports the managed Redis every night with the workflow\'s own identity (no stored credential)', () => {
    const workflow = read('redis-export.yml')
    expect(workflow.on).toHaveProperty('schedule')
    const job = workflow.jobs.export!
    expect(step(job, 'azure/login')!.with).not.toHaveProperty('creds')
    expect(job.steps.some((candidate) => candidate.run?.includes('az redisenterprise database export'))).toBe(true)
    expect(JSON.stringify(workflow)).not.toMatch(/secrets\./)
  })
})
