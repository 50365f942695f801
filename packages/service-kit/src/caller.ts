import type { FastifyInstance, RouteShorthandOptions } from 'fastify'
import { Type, type Static } from '@sinclair/typebox'

export const Caller = Type.Object({
  tenantId: Type.String({
    maxLength: 64,
    description: 'Your tenant id: the `tenantid` attribute of every event of yours, and the value to put there when you publish events to the exchange yourself.',
  }),
}, { description: 'Who the credentials of this request name.' })
export type Caller = Static<typeof Caller>

export interface CallerRouteOptions {
  /** The document's tag for the route. */
  tag: string
  /** The service's documented error responses (401, 429). */
  errors: NonNullable<NonNullable<RouteShorthandOptions['schema']>['response']>
}

/**
 * `GET /v1/me`: the tenant the caller's credentials name, so an integrator who publishes to the
 * broker directly learns the `tenantid` to set without asking anyone. Registered where tenantAuth is.
 */
export async function callerRoute(app: FastifyInstance, { tag, errors }: CallerRouteOptions): Promise<void> {
  app.get('/v1/me', {
    schema: {
      operationId: 'getCaller',
      tags: [tag],
      summary: 'Your tenant id',
      description: 'Returns the tenant your credentials name: the value of `tenantid` on your events.',
      response: { 200: Caller, ...errors as object },
    },
  }, async (request): Promise<Caller> => ({ tenantId: request.tenantId }))
}
