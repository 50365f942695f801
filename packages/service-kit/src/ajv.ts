import { isDateTime } from '@arrivals/contracts'
import type { FastifyServerOptions } from 'fastify'

export interface AjvChoices {
  /** Keywords the schemas carry as documentation (Power Automate's `x-ms-*`): Ajv's strict mode refuses unknown ones. */
  keywords?: readonly string[]
  /** false when a handler applies defaults itself (inventory hashes the body as sent for Idempotency-Key). */
  useDefaults?: boolean
}

// Ajv's own notices (schema problems at start) go to stderr as before, less the one about `unicode`.
const toStderr = (...args: unknown[]) => process.stderr.write(`${args.map(String).join(' ')}\n`)
const ajvLogger = {
  log: () => {},
  warn: (...args: unknown[]) => {
    if (!String(args[0]).startsWith('DEPRECATED: option unicode')) toStderr(...args)
  },
  error: toStderr,
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
      // A length counts UTF-16 code units, as the contracts' checks do (an emoji outside the BMP is two),
      // so a body the HTTP layer accepts never becomes an event the contract refuses.
      // (Ajv calls the option deprecated but keeps it; its start-up notice about it is the one silenced.)
      unicode: false,
      logger: ajvLogger,
    },
    // The contracts' date-time, not ajv-formats' (which takes a leap second, 23:59:60, that no
    // JavaScript date can hold): refused at the door with a 400 naming the field, never NaN later.
    onCreate: (ajv) => ajv.addFormat('date-time', isDateTime),
  }
}
