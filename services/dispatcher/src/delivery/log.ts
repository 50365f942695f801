import type { BaseLogger } from 'pino'

/** The structured logger the pipeline writes to (pino's and fastify's): fields first, then the message. */
export type Log = Pick<BaseLogger, 'debug' | 'info' | 'warn' | 'error'>
