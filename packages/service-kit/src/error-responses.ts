import { Type, type Static, type TSchema } from '@sinclair/typebox'

/** The body of every 4xx and 5xx (installErrorHandling's answers). */
export const ErrorBody = Type.Object({
  statusCode: Type.Integer({ description: 'The HTTP status code.' }),
  error: Type.String({ description: 'The HTTP reason phrase.' }),
  message: Type.String({ description: 'What went wrong and what to fix.' }),
  code: Type.Optional(Type.String({ description: 'A stable code for programs.' })),
}, { $id: 'ErrorBody', title: 'Error', description: 'An error; the message says what to fix.' })
export type ErrorBody = Static<typeof ErrorBody>

/** What the status codes mean where no service says more. */
const commonDescriptions: Record<number, string> = {
  413: 'The body is larger than the limit.',
  415: 'The body is not application/json.',
  429: 'Rate limit exceeded; retry after Retry-After seconds.',
}

/** A route's documented error responses: `errorResponses(400, 401, 503)`, each referring to ErrorBody. */
export type ErrorResponses = (...codes: number[]) => Record<number, TSchema>

/** The responses helper of a service, with what each status code means in that service. */
export function errorResponsesFrom(descriptions: Record<number, string>): ErrorResponses {
  const meaning = { ...commonDescriptions, ...descriptions }
  return (...codes) => Object.fromEntries(codes.map((status) => [status, { ...Type.Ref(ErrorBody), description: meaning[status] ?? 'Error.' }]))
}
