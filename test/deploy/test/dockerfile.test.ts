import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { repoRoot } from '../src/kustomize.js'
import { dockerfileViolations } from '../src/policy.js'

const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8')

describe('Dockerfile', () => {
  it('has none of the usual mistakes', () => {
    expect(dockerfileViolations(dockerfile)).toEqual([])
  })

  it('builds the one service with pnpm deploy --prod and labels the image', () => {
    expect(dockerfile).toMatch(/pnpm deploy --prod --filter "@arrivals\/\$\{SERVICE\}"/)
    for (const label of ['org.opencontainers.image.source', 'org.opencontainers.image.version']) expect(dockerfile).toContain(label)
    expect(dockerfile).toMatch(/FROM \$\{NODE_IMAGE\}/)
    expect(dockerfile).toMatch(/ARG NODE_IMAGE=node:24\.\d+\.\d+-\w+-slim/)
  })

  it('catches an unpinned base, root, a shell-form CMD and a missing lockfile', () => {
    const careless = 'FROM node:latest AS build\nCOPY . .\nRUN pnpm install\nFROM node\nUSER root\nCMD node dist/server.js\n'
    const problems = dockerfileViolations(careless).join('\n')
    for (const expected of ['"node:latest" is not pinned', '"node" is not pinned', 'USER root is root', 'shell form', 'lockfile', '--frozen-lockfile']) {
      expect(problems).toContain(expected)
    }
    expect(dockerfileViolations('FROM node:24.1.0 AS a\nFROM node:24.1.0\nCMD ["node"]\n').join('\n')).toContain('no USER')
  })

  it('catches npm left in (or used by) the runtime stage, and stages on different bases', () => {
    const slim = 'FROM node:24.1.0 AS build\nCOPY pnpm-lock.yaml ./\nRUN pnpm install --frozen-lockfile\nFROM node:24.1.0\nUSER 1000\nCMD ["node"]\n'
    expect(dockerfileViolations(slim).join('\n')).toContain('the runtime stage keeps npm')
    const installing = slim.replace('USER 1000', 'RUN rm -rf /usr/local/lib/node_modules /usr/local/bin/npm && npm install left-pad\nUSER 1000')
    expect(dockerfileViolations(installing).join('\n')).toContain('runs "npm install left-pad"')
    expect(dockerfileViolations(installing.replace(' && npm install left-pad', ''))).toEqual([])
    expect(dockerfileViolations(slim.replace('FROM node:24.1.0\n', 'FROM node:24.2.0\n')).join('\n')).toContain('different base images')
  })

  it('accepts a digest pin, and runs node alone at run time', () => {
    const pinned = dockerfile.replace(/^ARG NODE_IMAGE=(.*)$/m, `ARG NODE_IMAGE=$1@sha256:${'0'.repeat(64)}`)
    expect(pinned).toContain('@sha256:')
    expect(dockerfileViolations(pinned)).toEqual([])
    expect(dockerfileViolations(dockerfile.replace(/^ARG NODE_IMAGE=.*$/m, 'ARG NODE_IMAGE=node:24-slim')).join('\n')).toContain('not pinned')
  })

  it('.dockerignore keeps node_modules, build output and git out of the context', () => {
    const ignored = readFileSync(join(repoRoot, '.dockerignore'), 'utf8').split('\n')
    for (const entry of ['**/node_modules', '**/dist', '.git', '.env']) expect(ignored).toContain(entry)
  })
})
