import { createHash, randomBytes, randomUUID } from 'node:crypto'

/** What a route records: its name salts the derived identifiers, its prefix marks generated ids. */
export interface RecordKind {
  /** `receipt`, `adjustment`: also the noun of the route's messages. */
  noun: string
  /** Of a generated object id: `rcpt`, `adj`. */
  idPrefix: string
}

/**
 * Identifiers of a recorded event. With an Idempotency-Key they are derived from kind + tenant + key,
 * so a retry after a 503 (when the broker may have accepted the event but its confirm was lost)
 * publishes the same event id again, and subscribers see the same webhook-id and can drop the
 * duplicate. Without a key every request is new, with random identifiers.
 */
export function eventIdentity(kind: RecordKind, tenantId: string, idempotencyKey: string | undefined): { eventId: string; objectId: string } {
  if (idempotencyKey === undefined) return { eventId: randomUUID(), objectId: `${kind.idPrefix}_${randomBytes(16).toString('base64url')}` }
  const digest = createHash('sha256').update(`arrivals-${kind.noun}\0${tenantId}\0${idempotencyKey}`).digest()
  return { eventId: uuidFromDigest(digest), objectId: `${kind.idPrefix}_${digest.subarray(16, 32).toString('base64url')}` }
}

/** An RFC 9562 version 8 (custom) UUID made of the digest's first 16 bytes. */
function uuidFromDigest(digest: Buffer): string {
  const bytes = Buffer.from(digest.subarray(0, 16))
  bytes[6] = (bytes[6]! & 0x0f) | 0x80
  bytes[8] = (bytes[8]! & 0x3f) | 0x80
  const hex = bytes.toString('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}
