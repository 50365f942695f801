import closeWithGrace from 'close-with-grace'
import type { FastifyInstance, FastifyRequest, FastifyServerOptions } from 'fastify'
import { stdSerializers } from 'pino'
import { SettingsError, type Env } from './settings.js'

/** A URL with every query value censored: a key or a signature sent there (refused or not) is never logged. */
export function withoutQueryValues(url: string): string {
  const query = url.indexOf('?')
  if (query === -1) return url
  return url.slice(0, query + 1) + url.slice(query + 1).replace(/(^|&)([^=&]*)=[^&]*/g, '$1$2=[redacted]')
}

/** Fastify's request fields, the URL without its query values. */
function requestFields(request: FastifyRequest) {
  return {
    method: request.method,
    url: withoutQueryValues(request.url),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  }
}

/**
 * An error's fields without the bytes Node's HTTP parser attaches to a parse error (`rawPacket`: the
 * request as received, API key, bearer token and callback signature included).
 */
function errorFields(error: Error) {
  const fields = stdSerializers.err(error) as ReturnType<typeof stdSerializers.err> & { rawPacket?: unknown }
  delete fields.rawPacket
  return fields
}

/**
 * Logger options for every service: structured, and secrets are censored at every level: API keys,
 * bearer tokens, query values, raw request bytes, and anything that is a callback URL or a signing secret.
 */
export function loggerOptions(service: string, level: string): NonNullable<FastifyServerOptions['logger']> {
  return {
    level,
    name: service,
    redact: {
      paths: [
        'req.headers["x-api-key"]', 'req.headers.authorization', 'req.headers.cookie',
        'headers["x-api-key"]', 'headers.authorization',
        '*.callbackUrl', 'callbackUrl', '*.secret', 'secret', '*.signingSecret', 'signingSecret', '*.rawPacket', 'rawPacket',
      ],
      censor: '[redacted]',
    },
    serializers: { req: requestFields, err: errorFields },
  }
}

export interface RunOptions {
  app: FastifyInstance
  port: number
  host: string
  /** How long a graceful shutdown may take before the process exits anyway. */
  shutdownDelayMs?: number
}

/**
 * Owns the process: listens, and on SIGTERM/SIGINT closes the app (its onClose hooks stop taking
 * work, drain, and close clients in order) with a hard deadline.
 */
export async function runService({ app, port, host, shutdownDelayMs = 25_000 }: RunOptions): Promise<void> {
  closeWithGrace({ delay: shutdownDelayMs }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'shutting down after an unexpected error')
    else app.log.info({ signal }, 'shutting down')
    await app.close()
  })
  await app.listen({ port, host })
}

/** What the bootstrap needs of a service's settings. */
export interface ListenSettings {
  port: number
  host: string
  logLevel: string
  namespace: string
}

export interface ServiceStart<S extends ListenSettings> {
  service: string
  /** The environment the service's readSettings reads (process.env). */
  env: Env
  readSettings: (env: Env) => S
  buildApp: (settings: S, logger: NonNullable<FastifyServerOptions['logger']>) => Promise<FastifyInstance>
  /** The hard deadline of a graceful shutdown (default 25 s). */
  shutdownDelayMs?: (settings: S) => number
  /** Where a settings problem is told (stderr); the process exits 1 after it. */
  fail?: (message: string) => never
}

function exitWith(message: string): never {
  // No logger exists yet: the message says what to fix, on stderr, and the exit code says it failed.
  process.stderr.write(`${message}\n`)
  process.exit(1)
}

/**
 * A service's server.ts: reads its settings (exit 1 with every problem on a SettingsError), builds
 * the app with the service's logger, listens until SIGTERM/SIGINT, and logs where it listens.
 */
export async function startService<S extends ListenSettings>(start: ServiceStart<S>): Promise<FastifyInstance> {
  const fail = start.fail ?? exitWith
  let settings: S
  try {
    settings = start.readSettings(start.env)
  } catch (error) {
    return fail(`${start.service}: ${error instanceof SettingsError ? error.message : String(error)}`)
  }
  const app = await start.buildApp(settings, loggerOptions(start.service, settings.logLevel))
  const shutdownDelayMs = start.shutdownDelayMs?.(settings)
  await runService({ app, port: settings.port, host: settings.host, ...(shutdownDelayMs === undefined ? {} : { shutdownDelayMs }) })
  const address = app.server.address()
  const port = typeof address === 'object' && address ? address.port : settings.port
  app.log.info({ port, host: settings.host, namespace: settings.namespace }, 'listening')
  return app
}
