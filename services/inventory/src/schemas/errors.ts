import { Type, type TSchema } from '@sinclair/typebox'

/** What service-kit's error handler answers for every 4xx and 5xx. */
export const ErrorBody = Type.Object({
  statusCode: Type.Integer(),
  error: Type.String(),
  message: Type.String({ description: 'What went wrong and what to fix.' }),
  code: Type.Optional(Type.String()),
}, { $id: 'ErrorBody', description: 'An error: the message says what to fix.' })

const errorRef = Type.Ref(ErrorBody)

const descriptions: Record<number, string> = {
  400: 'The request is invalid; the message names the field and the rule.',
  401: 'Missing or invalid X-API-Key.',
  404: 'Not found in your tenant.',
  409: 'A request with this Idempotency-Key is still in progress; retry after Retry-After seconds.',
  413: 'The body is larger than 1 MB.',
  415: 'The body is not application/json.',
  422: 'This Idempotency-Key was used with a different request.',
  429: 'Rate limit exceeded; retry after Retry-After seconds.',
  503: 'RabbitMQ or Redis is unavailable or did not confirm in time. Retry after Retry-After seconds with the same Idempotency-Key: a receipt whose confirm was lost may have been published, and the key makes the retry the same event.',
}

/** The error responses a route can give, each documented in the OpenAPI document. */
export function errorResponses(...codes: number[]): Record<number, TSchema> {
  return Object.fromEntries(codes.map((code) => [code, { ...errorRef, description: descriptions[code] ?? 'Error.' }]))
}
