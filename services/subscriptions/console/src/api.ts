import type { Static } from '@sinclair/typebox'
import type { AttemptRecord } from '@arrivals/contracts'
import type { DeadLetter as DeadLetterSchema } from '../../src/schemas/deliveries.js'
import type { ListedSubscription, Subscription } from '../../src/schemas/subscriptions.js'

export type { AttemptRecord, ListedSubscription, Subscription }
export type DeadLetter = Static<typeof DeadLetterSchema>

const KEY = 'arrivals.console.apiKey'

/** The key lives in this tab only: closing the tab signs out, and no other tab or site can read it. */
export const session = {
  key: (): string | null => sessionStorage.getItem(KEY),
  signIn: (key: string) => sessionStorage.setItem(KEY, key),
  signOut: () => sessionStorage.removeItem(KEY),
}

export const CANNOT_OPERATE = 'This key cannot operate: sign in with an operator\'s key.'

/** An answer other than 2xx, with the API's own message (it says what to fix). */
export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message)
  }

  /** The key is wrong (401) or may not use the operator API (403): the console signs out. */
  get signsOut(): boolean {
    return this.status === 401 || this.status === 403
  }
}

async function call<T>(method: string, path: string): Promise<T> {
  const key = session.key()
  if (!key) throw new ApiError(401, 'Sign in with an API key.')
  let response: Response
  try {
    response = await fetch(path, { method, headers: { 'X-API-Key': key, Accept: 'application/json' }, cache: 'no-store' })
  } catch {
    throw new ApiError(0, 'The subscriptions service did not answer. Check your connection and try again.')
  }
  if (response.status === 204) return undefined as T
  const body = await response.json().catch(() => undefined) as { message?: string } | undefined
  if (response.ok) return body as T
  if (response.status === 403) throw new ApiError(403, CANNOT_OPERATE)
  if (response.status === 401) throw new ApiError(401, 'This API key was not accepted. Check it and sign in again.')
  const retry = response.headers.get('Retry-After')
  const message = body?.message ?? `The service answered ${response.status}.`
  throw new ApiError(response.status, retry ? `${message} (try again in ${retry} s)` : message)
}

const id = encodeURIComponent

export const api = {
  subscriptions: (cursor?: string) =>
    call<{ items: ListedSubscription[]; nextCursor?: string }>('GET', `/v1/subscriptions?limit=50${cursor ? `&cursor=${id(cursor)}` : ''}`),
  subscription: (subscriptionId: string) => call<Subscription>('GET', `/v1/subscriptions/${id(subscriptionId)}`),
  attempts: (subscriptionId: string) => call<{ items: AttemptRecord[] }>('GET', `/v1/subscriptions/${id(subscriptionId)}/attempts`),
  sendTest: (subscriptionId: string) => call<{ deliveryId: string }>('POST', `/v1/subscriptions/${id(subscriptionId)}/test`),
  enable: (subscriptionId: string) => call<Subscription>('POST', `/v1/subscriptions/${id(subscriptionId)}/enable`),
  disable: (subscriptionId: string) => call<Subscription>('POST', `/v1/subscriptions/${id(subscriptionId)}/disable`),
  /** Every dead letter since then: one call is bounded, so it follows nextSince until there is none. */
  redeliver: async (subscriptionId: string, since: string) => {
    let count = 0
    for (let from: string | undefined = since; from !== undefined;) {
      const page: { count: number; nextSince?: string } = await call('POST', `/v1/subscriptions/${id(subscriptionId)}/redeliver?since=${id(from)}`)
      count += page.count
      from = page.nextSince
    }
    return { count }
  },
  deadLetters: (options: { offset: number; limit: number; subscriptionId?: string }) =>
    call<{ items: DeadLetter[] }>('GET', `/v1/dead-letters?limit=${options.limit}&offset=${options.offset}${options.subscriptionId ? `&subscriptionId=${id(options.subscriptionId)}` : ''}`),
  replay: (deadLetterId: string) => call<{ deliveryId: string }>('POST', `/v1/dead-letters/${id(deadLetterId)}/replay`),
  discard: (deadLetterId: string) => call<undefined>('DELETE', `/v1/dead-letters/${id(deadLetterId)}`),
}
