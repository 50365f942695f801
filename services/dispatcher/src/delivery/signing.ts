import { createHmac } from 'node:crypto'

/**
 * Standard Webhooks signing (https://www.standardwebhooks.com): the signed content is
 * `<webhook-id>.<webhook-timestamp>.<body>`, the key is the base64 after `whsec_`, and the header is
 * `v1,<base64 HMAC-SHA256>`. Receivers verify with any Standard Webhooks library.
 */
export interface WebhookHeaders {
  'webhook-id': string
  'webhook-timestamp': string
  'webhook-signature': string
}

const SECRET_PREFIX = 'whsec_'

/** The HMAC key inside a `whsec_…` secret; throws (without echoing the secret) when it is not one. */
export function signingKey(secret: string): Buffer {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret
  const key = Buffer.from(encoded, 'base64')
  if (key.length < 16) throw new Error('the signing secret is not a whsec_ base64 secret of at least 16 bytes')
  return key
}

export function signWebhook(key: Buffer, id: string, timestampSeconds: number, body: string): WebhookHeaders {
  const signature = createHmac('sha256', key).update(`${id}.${timestampSeconds}.${body}`).digest('base64')
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestampSeconds),
    'webhook-signature': `v1,${signature}`,
  }
}
