import { installErrorHandling, operations, redisAnswers } from '@arrivals/service-kit'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { createDispatcher, type Dispatcher, type DispatcherOptions } from './delivery/index.js'
import type { DispatcherSettings } from './settings.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The delivery pipeline this process runs. */
    dispatcher: Dispatcher
  }
}

export interface BuildOptions {
  /** Fastify logger options (server.ts passes the service's); tests usually pass false. */
  logger?: FastifyServerOptions['logger']
  /** Resolver for callback hosts (tests only). */
  callbackLookup?: DispatcherOptions['callbackLookup']
  /** Replica name for connection names. */
  name?: string
  /** Start consuming at once (default true); false builds the app without touching the broker. */
  start?: boolean
}

/**
 * The dispatcher as an app that never listens: /healthz, /readyz (ready = every consumer is consuming
 * and Redis answers) and /metrics, with the delivery pipeline started on build and drained on close.
 */
export async function buildApp(settings: DispatcherSettings, options: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({ logger: options.logger ?? false })
  installErrorHandling(app)
  // The readiness checks run after the build, once the dispatcher below exists.
  const built: { dispatcher?: Dispatcher } = {}
  await app.register(operations, {
    service: 'dispatcher',
    readiness: {
      consuming: () => built.dispatcher?.consuming ?? false,
      redis: () => (built.dispatcher ? redisAnswers(built.dispatcher.redis) : false),
    },
  })
  const dispatcher = createDispatcher(settings, {
    log: app.log,
    registry: app.metrics,
    ...(options.callbackLookup ? { callbackLookup: options.callbackLookup } : {}),
    ...(options.name ? { name: options.name } : {}),
  })
  built.dispatcher = dispatcher
  app.decorate('dispatcher', dispatcher)
  app.addHook('onClose', async () => {
    await dispatcher.stop()
  })
  if (options.start ?? true) dispatcher.start()
  return app
}

export { createDispatcher, type Dispatcher } from './delivery/index.js'
export { readSettings, parseRetrySchedule, type DispatcherSettings } from './settings.js'
