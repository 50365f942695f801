import { CallbackRefusedError, createSafeLookup, parseCallbackUrl, type CallbackPolicy } from '@arrivals/callback-safety'
import { Agent } from 'undici'
import { parseRetryAfter, type SendResult } from '../policies/retry-policy.js'
import type { WebhookRequest } from '../ports.js'

/** How much of a receiver's answer is read before the connection is dropped: we only need the status. */
const RESPONSE_BODY_LIMIT = 64 * 1024

/** Callbacks kept parsed and checked, by their text; more than this and the map starts afresh. */
const PARSED_CALLBACKS = 10_000

/** Where a callback's POST goes, or why it may not. */
type Target = { origin: string; path: string } | { refused: string }

interface Sender {
  send(request: WebhookRequest): Promise<SendResult>
  close(): Promise<void>
}

interface SenderOptions {
  policy: CallbackPolicy
  timeoutMs: number
  /** Keep-alive connections per origin (scheme, host, port); many endpoints may share one origin. */
  connectionsPerOrigin: number
}

/**
 * POSTs webhooks. The socket's `lookup` is the SSRF check itself, so the connection goes exactly to
 * the address that was checked (no DNS-rebinding window); literal IP hosts never reach a lookup, so
 * the URL is checked again here first. Redirects are not followed (undici's request does not
 * follow them): a 3xx is an answer like any other non-2xx.
 */
export function createSender(options: SenderOptions): Sender {
  const agent = new Agent({
    connect: { lookup: createSafeLookup(options.policy), timeout: options.timeoutMs },
    connections: options.connectionsPerOrigin,
    headersTimeout: options.timeoutMs,
    bodyTimeout: options.timeoutMs,
    // Shorter than the usual server keep-alive (5 s), so we never write on a socket the receiver closed.
    keepAliveTimeout: 4_000,
  })

  // The policy is the sender's for its life, so a callback's verdict never changes: parsing and
  // checking it on every webhook was about 2% of the dispatcher's CPU per webhook in a fan-out profile.
  // Held like the opened subscriptions that hold these URLs anyway, never logged.
  const targets = new Map<string, Target>()
  function targetOf(raw: string): Target {
    let target = targets.get(raw)
    if (target === undefined) {
      try {
        const url = parseCallbackUrl(raw, options.policy)
        target = { origin: url.origin, path: `${url.pathname}${url.search}` }
      } catch (error) {
        target = { refused: (error as Error).message }
      }
      if (targets.size >= PARSED_CALLBACKS) targets.clear()
      targets.set(raw, target)
    }
    return target
  }

  return {
    async send(request) {
      const target = targetOf(request.url)
      if ('refused' in target) return { kind: 'refused', error: target.refused }
      // One controller, one timer and one listener per request: AbortSignal.any over
      // AbortSignal.timeout cost ~4 µs more per webhook, plus the weak references it leaves to the GC.
      const controller = new AbortController()
      const timer = setTimeout(() => controller.abort(new DOMException(`timed out after ${options.timeoutMs} ms`, 'TimeoutError')), options.timeoutMs)
      const shutdown = request.signal
      const onShutdown = () => controller.abort(shutdown?.reason)
      if (shutdown?.aborted) onShutdown()
      else shutdown?.addEventListener('abort', onShutdown, { once: true })
      const { signal } = controller
      try {
        const response = await agent.request({
          origin: target.origin,
          path: target.path,
          method: 'POST',
          headers: request.headers,
          body: request.body,
          signal,
        })
        const header = response.headers['retry-after']
        const retryAfterMs = parseRetryAfter(Array.isArray(header) ? header[0] : header)
        // Read (a bounded amount of) the answer so the connection can be reused.
        await response.body.dump({ limit: RESPONSE_BODY_LIMIT }).catch(() => {})
        return retryAfterMs === undefined ? { kind: 'response', status: response.statusCode } : { kind: 'response', status: response.statusCode, retryAfterMs }
      } catch (error) {
        return classify(error, options.timeoutMs, request.url)
      } finally {
        clearTimeout(timer)
        shutdown?.removeEventListener('abort', onShutdown)
      }
    },
    async close() {
      await agent.close().catch(() => {})
    },
  }
}

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT', 'ABORT_ERR'])

function classify(error: unknown, timeoutMs: number, rawUrl: string): SendResult {
  let current = error as (Error & { code?: string; cause?: unknown }) | undefined
  for (let depth = 0; current && depth < 4; depth++) {
    if (current instanceof CallbackRefusedError || current.code === 'ERR_CALLBACK_REFUSED') return { kind: 'refused', error: current.message }
    if (current.name === 'AbortError' || current.name === 'TimeoutError' || (current.code && TIMEOUT_CODES.has(current.code))) {
      return { kind: 'timeout', error: `timed out after ${timeoutMs} ms` }
    }
    if (current.code && /^E[A-Z]+$/.test(current.code)) return { kind: 'network', error: `network error: ${current.code}` }
    current = current.cause as typeof current
  }
  const message = (error as Error | undefined)?.message ?? String(error)
  // An error message must never carry the callback URL (its query string is a credential).
  return { kind: 'network', error: `network error: ${message.split(rawUrl).join('[callback]').slice(0, 200)}` }
}
