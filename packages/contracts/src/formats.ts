import { FormatRegistry } from '@sinclair/typebox'

// TypeBox refuses every format it has not been taught. These are the only formats the contracts
// use; the checks are the ones fastify's Ajv applies, so a body that passed the HTTP layer passes here.
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/i

export function isDateTime(value: string): boolean {
  return DATE_TIME.test(value) && !Number.isNaN(Date.parse(value))
}

export function isUri(value: string): boolean {
  return URL.canParse(value)
}

if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', isDateTime)
if (!FormatRegistry.Has('uri')) FormatRegistry.Set('uri', isUri)
