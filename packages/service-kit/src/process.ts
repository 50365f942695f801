import closeWithGrace from 'close-with-grace'
import type { FastifyInstance, FastifyServerOptions } from 'fastify'

/**
 * Logger options for every service: structured, and secrets are censored at every level: API keys,
 * bearer tokens, and anything that is a callback URL or a signing secret.
 */
export function loggerOptions(service: string, level: string): NonNullable<FastifyServerOptions['logger']> {
  return {
    level,
    name: service,
    redact: {
      paths: [
        'req.headers["x-api-key"]', 'req.headers.authorization', 'req.headers.cookie',
        'headers["x-api-key"]', 'headers.authorization',
        '*.callbackUrl', 'callbackUrl', '*.secret', 'secret', '*.signingSecret', 'signingSecret',
      ],
      censor: '[redacted]',
    },
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
