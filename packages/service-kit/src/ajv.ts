import type { FastifyServerOptions } from 'fastify'

export interface AjvChoices {
  /** Keywords the schemas carry as documentation (Power Automate's `x-ms-*`): Ajv's strict mode refuses unknown ones. */
  keywords?: readonly string[]
  /** false when a handler applies defaults itself (inventory hashes the body as sent for Idempotency-Key). */
  useDefaults?: boolean
}

/**
 * Request validation alike in every service. Ajv stays strict (its default: an unknown keyword in a
 * schema is an error at start, not a silently ignored rule), so the documentation keywords are declared.
 */
export function ajvOptions({ keywords, useDefaults }: AjvChoices = {}): NonNullable<FastifyServerOptions['ajv']> {
  return {
    customOptions: {
      // Unknown fields are a 400 that names them, not silently dropped.
      removeAdditional: false,
      // "5" is not a quantity: types are checked as sent.
      coerceTypes: false,
      ...(useDefaults === undefined ? {} : { useDefaults }),
      ...(keywords ? { keywords: [...keywords] } : {}),
    },
  }
}
