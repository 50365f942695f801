// `pnpm connector:export` (after a build): writes the committed connector/ package from the app's
// own route schemas. A test fails when the committed files differ from what this writes.
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Fastify from 'fastify'
import { subscriptions, serverOptions } from '../app.js'
import { connectorPackage, packageSettings } from './package.js'

const target = fileURLToPath(new URL('../../../../connector/', import.meta.url))
const settings = packageSettings()
const app = Fastify(serverOptions(settings))
await app.register(subscriptions, { settings })
await app.ready()
try {
  for (const [path, content] of connectorPackage(app)) {
    const file = join(target, path)
    mkdirSync(dirname(file), { recursive: true })
    writeFileSync(file, content)
    process.stdout.write(`wrote ${file}\n`)
  }
} finally {
  await app.close()
}
