import fc from 'fast-check'
import { Client } from 'undici'
import { expect } from 'vitest'
import type { ServiceProcess } from '@arrivals/e2e/harness'
import { operationsOf, type Operation } from './openapi.js'
import { knownIds } from './schema-arbitrary.js'
import { requestArbitrary, type FuzzRequest } from './requests.js'

export interface FuzzOutcome {
  /** The operationIds of the document the requests were generated from (every one is in the mix). */
  operationIds: string[]
  /** Requests the service answered. */
  answered: number
  statuses: Map<number, number>
  /** Event ids of 202 answers with an eventId (inventory receipts). */
  acceptedEventIds: Set<string>
  /** Delivery ids announced by 2xx answers to the operations that publish tasks (test, replay, redeliver). */
  announcedDeliveryIds: Set<string>
  /** Requests the client refused to send, and connections the service closed without an answer. */
  unsent: number
  closed: number
}

function describeRequest(request: FuzzRequest): string {
  const shown = typeof request.body === 'string' ? request.body : request.body?.toString('latin1')
  const body = shown === undefined ? '' : ` body(${shown.length}): ${shown.slice(0, 300)}`
  return `${request.method} ${request.target.slice(0, 300)} [${request.kind}] headers ${JSON.stringify(request.headers).slice(0, 300)}${body}`
}

/**
 * The operations the service documents at /docs/json. The dispatcher serves no API (only its
 * operational endpoints, DESIGN.md's table), so for it those three are the document.
 */
async function documentedOperations(target: ServiceProcess): Promise<Operation[]> {
  const docs = await fetch(`${target.url}/docs/json`)
  if (target.service === 'dispatcher' && docs.status === 404) {
    await docs.body?.cancel()
    return ['/healthz', '/readyz', '/metrics'].map((path) => ({ method: 'GET', path, operationId: path, parameters: [], body: undefined, secured: false }))
  }
  expect(docs.status, `${target.service} serves its OpenAPI document at /docs/json`).toBe(200)
  return operationsOf(await docs.json() as Record<string, unknown>)
}

function send(client: Client, request: FuzzRequest) {
  return client.request({ method: request.method as 'GET', path: request.target, headers: request.headers, body: request.body })
}

/**
 * Sends `runs` requests generated from the service's own OpenAPI document (GET /docs/json) and
 * mutated out of it, one at a time, over a raw HTTP client (paths are sent exactly as generated).
 * Fails on any 5xx, an empty error body, or the process dying; fast-check shrinks a failure.
 */
export async function fuzzService(target: ServiceProcess, apiKeys: string[], runs: number): Promise<FuzzOutcome> {
  const operations = await documentedOperations(target)
  expect(operations.length).toBeGreaterThan(0)

  const client = new Client(target.url, { headersTimeout: 15_000, bodyTimeout: 15_000 })
  const outcome: FuzzOutcome = { operationIds: operations.map((operation) => operation.operationId), answered: 0, statuses: new Map(), acceptedEventIds: new Set(), announcedDeliveryIds: new Set(), unsent: 0, closed: 0 }
  try {
    await fc.assert(fc.asyncProperty(requestArbitrary(operations, { keys: apiKeys }), async (request) => {
      let response
      try {
        response = await send(client, request).catch((error: { code?: string }) => {
          // A keep-alive connection the service closed after its previous answer (e.g. a 431): once more.
          if (error.code === 'UND_ERR_SOCKET') return send(client, request)
          throw error
        })
      } catch (error) {
        const code = (error as { code?: string }).code ?? ''
        // The client refused to send it (an invalid header or path): nothing reached the service.
        if (code === 'UND_ERR_INVALID_ARG' || code === 'ERR_INVALID_CHAR' || code === 'ERR_INVALID_ARG_VALUE') {
          outcome.unsent++
          return
        }
        // The service closed the connection on a malformed request: fine, as long as it is alive.
        outcome.closed++
        expect(target.running, `${target.service} died on ${describeRequest(request)}`).toBe(true)
        return
      }
      const text = await response.body.text()
      for (const [, id] of text.matchAll(/"((?:sub|dl)_[A-Za-z0-9_-]{4,64})"/g)) {
        if (!knownIds.includes(id!) && knownIds.length < 500) knownIds.push(id!)
      }
      outcome.answered++
      outcome.statuses.set(response.statusCode, (outcome.statuses.get(response.statusCode) ?? 0) + 1)
      expect(response.statusCode, `${describeRequest(request)} → ${text.slice(0, 500)}`).toBeLessThan(500)
      if (response.statusCode >= 400) expect(text.length, `a ${response.statusCode} says what to fix: ${describeRequest(request)}`).toBeGreaterThan(0)
      if (response.statusCode === 202) {
        const eventId = (JSON.parse(text) as { eventId?: unknown }).eventId
        if (typeof eventId === 'string') outcome.acceptedEventIds.add(eventId)
      }
      if (response.statusCode < 300 && request.method === 'POST' && /\/(test|replay|redeliver)(\?|$)/.test(request.target)) {
        for (const [id] of text.matchAll(/msg_[A-Za-z0-9_-]+/g)) outcome.announcedDeliveryIds.add(id)
      }
    }), { numRuns: runs, endOnFailure: true })
  } finally {
    await client.close()
  }
  expect(target.running, `${target.service} is still running`).toBe(true)
  console.info(`fuzz ${target.service}: ${outcome.answered} requests answered (${outcome.unsent} not sendable, ${outcome.closed} closed unanswered), statuses ${JSON.stringify(Object.fromEntries(outcome.statuses))}`)
  return outcome
}
