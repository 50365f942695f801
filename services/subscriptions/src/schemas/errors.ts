import { Type, type TSchema } from '@sinclair/typebox'

/** The body of every 4xx and 5xx (service-kit's error handler). */
export const ErrorBody = Type.Object({
  statusCode: Type.Integer({ description: 'The HTTP status code.' }),
  error: Type.String({ description: 'The HTTP reason phrase.' }),
  message: Type.String({ description: 'What went wrong and what to fix.' }),
  code: Type.Optional(Type.String({ description: 'A stable code for programs.' })),
}, { $id: 'ErrorBody', title: 'Error', description: 'An error; the message says what to fix.' })

const errorDescriptions: Record<number, string> = {
  400: 'The request is invalid; the message names the field and the rule (for a callback URL: why it is refused).',
  401: 'Missing or invalid credentials (X-API-Key, or an Entra ID bearer token).',
  404: 'Your tenant has no such resource.',
  409: 'The resource is in a state that does not allow this; the message says why.',
  413: 'The body is larger than the limit.',
  415: 'The body is not application/json.',
  429: 'Rate limit exceeded; retry after Retry-After seconds.',
  503: 'Redis, RabbitMQ or the identity provider is unavailable; nothing was changed. Retry after Retry-After seconds.',
}

/** Documented error responses of a route, each referring to ErrorBody. */
export function errors(...codes: number[]): Record<number, TSchema> {
  return Object.fromEntries(codes.map((code) => [code, { ...Type.Ref(ErrorBody), description: errorDescriptions[code] ?? 'Error.' }]))
}
