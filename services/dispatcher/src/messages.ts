import { randomBytes } from 'node:crypto'

/** A consumed message as the stages see it (what @arrivals/messaging hands a consumer has these fields, and more). */
export interface BrokerMessage {
  content: Buffer
  headers: Record<string, unknown>
  messageId?: string
}

/**
 * What the consumer does with a message once its stage is done (it settles the message): `ack`;
 * `requeue` hands it back unprocessed (shutdown), which is no failure; `reject` returns it as a
 * processing failure, which counts toward the quorum queue's delivery limit, so a message that always
 * fails ends as a poison dead letter instead of looping.
 */
export type Verdict = 'ack' | 'requeue' | 'reject'

/** Set on a task that went round a retry tier shorter than its wait: due no earlier than this (ms). */
export const NOT_BEFORE_HEADER = 'x-arrivals-not-before'
/** Set on a task an open circuit already held back, so its attempt history says so once, not each round. */
export const HELD_HEADER = 'x-arrivals-held'

/** The id of a dead letter (its archive record id): the publisher sets it, the archive falls back to a new one. */
export function newDeadLetterId(): string {
  return `dl_${randomBytes(16).toString('base64url')}`
}
