import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { ErrorBody } from './error-responses.js'

/** A dependency (RabbitMQ, Redis) is down: the caller should retry after a while. */
export class ServiceUnavailableError extends Error {
  override readonly name = 'ServiceUnavailableError'
  readonly statusCode = 503
  constructor(message: string, readonly retryAfterSeconds = 5, options?: ErrorOptions) {
    super(message, options)
  }
}

/** A 4xx with a message that says what to fix. */
export class HttpError extends Error {
  constructor(readonly statusCode: number, message: string, readonly code?: string) {
    super(message)
  }
}

// ioredis: a closed or reconnecting connection, or a command that outlived commandTimeout while it was away;
// on a cluster also a failover in progress (no master for a slot yet, a slot map that cannot be read).
const REDIS_DOWN = /Stream isn't writeable|Connection is closed|enableOfflineQueue|ECONNREFUSED|max retries per request|Command timed out|CLUSTERDOWN|TRYAGAIN|Failed to refresh slots cache|None of startup nodes is available|Too many Cluster redirections|Cluster isn't ready/i

/** True for an error that means Redis is away or failing over (answered 503), not a bug (500). */
export function isRedisUnavailable(error: Error): boolean {
  return error.name === 'MaxRetriesPerRequestError' || (REDIS_DOWN.test(error.message) && !('statusCode' in error))
}

const reasonPhrases: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  409: 'Conflict', 413: 'Payload Too Large', 415: 'Unsupported Media Type', 422: 'Unprocessable Entity',
  429: 'Too Many Requests', 500: 'Internal Server Error', 503: 'Service Unavailable',
}

function send(reply: FastifyReply, statusCode: number, message: string, code?: string) {
  const body: ErrorBody = { statusCode, error: reasonPhrases[statusCode] ?? 'Error', message }
  if (code) body.code = code
  return reply.code(statusCode).type('application/json; charset=utf-8').send(body)
}

/**
 * One error handler: 4xx say what to fix; a dependency outage is a 503 with Retry-After; anything
 * else is logged with its context and answered with a 500 that reveals nothing.
 */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (error instanceof ServiceUnavailableError) {
      request.log.warn({ err: { message: error.message } }, 'dependency unavailable')
      reply.header('retry-after', String(error.retryAfterSeconds))
      return send(reply, 503, error.message, 'SERVICE_UNAVAILABLE')
    }
    if (error.validation) {
      const context = error.validationContext ?? 'request'
      const detail = error.validation.map((issue) => {
        const where = `${context}${issue.instancePath || ''}`
        if (issue.keyword === 'additionalProperties') return `${where} has an unknown property "${String(issue.params.additionalProperty)}"`
        if (issue.keyword === 'enum') return `${where} must be one of ${(issue.params.allowedValues as unknown[]).map((value) => JSON.stringify(value)).join(', ')}`
        if (issue.keyword === 'required') return `${where} must have the property "${String(issue.params.missingProperty)}"`
        if (issue.keyword === 'format' && issue.params.format === 'date-time') {
          return `${where} must match format "date-time": RFC 3339 with a time zone, e.g. 2026-03-01T09:30:00Z (a leap second, :60, is not accepted)`
        }
        return `${where} ${issue.message ?? 'is invalid'}`
      }).join('; ')
      return send(reply, 400, detail, 'VALIDATION_FAILED')
    }
    if (isRedisUnavailable(error)) {
      request.log.warn({ err: { message: error.message } }, 'redis unavailable')
      reply.header('retry-after', '5')
      return send(reply, 503, 'the data store is unavailable; retry shortly', 'SERVICE_UNAVAILABLE')
    }
    const status = error.statusCode ?? 500
    if (status >= 400 && status < 500) {
      if (status === 429 && !reply.hasHeader('retry-after')) reply.header('retry-after', '1')
      let message = error.message
      if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') message = 'request body is larger than the limit; send less data'
      if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') message = `unsupported content type ${JSON.stringify(request.headers['content-type'] ?? '')}; send application/json`
      if (error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') message = 'the body is empty; send a JSON object'
      if (error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || (error.name === 'SyntaxError' && status === 400)) message = `the body is not valid JSON: ${error.message}`
      return send(reply, status, message, error.code)
    }
    request.log.error({ err: error }, 'request failed')
    return send(reply, 500, 'something went wrong on our side; it has been logged', 'INTERNAL')
  })
  app.setNotFoundHandler((request, reply) => send(reply, 404, `no route ${request.method} ${request.url.split('?')[0]}`, 'NOT_FOUND'))
}
