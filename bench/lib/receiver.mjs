// The webhook receiver every contender delivers to: one node:http server per endpoint (so each endpoint
// is its own origin, as separate flows are), each with its own answer delay and failure rate. It counts
// every request and measures publish → receipt latency from the publish times the publisher recorded.
import { createServer } from 'node:http'
import { performance } from 'node:perf_hooks'

/**
 * @typedef {{ delayMs?: number, failureRate?: number }} EndpointBehaviour
 */

export async function startReceiverFarm(count) {
  /** @type {{ server: import('node:http').Server, url: string, behaviour: EndpointBehaviour }[]} */
  const endpoints = []
  /** @type {Map<string, number>} eventId → performance.now() at publish */
  let publishedAt = new Map()
  let run = freshRun(count)
  const waiters = new Set()

  function onRequest(index, req, res) {
    const chunks = []
    req.on('data', (chunk) => chunks.push(chunk))
    req.on('end', () => {
      const now = performance.now()
      const { behaviour } = endpoints[index]
      record(index, req.url ?? '', Buffer.concat(chunks), now)
      const answer = () => {
        const fail = behaviour.failureRate > 0 && Math.random() < behaviour.failureRate
        res.writeHead(fail ? 500 : 200, { 'content-length': '0' }).end()
      }
      if (behaviour.delayMs > 0) setTimeout(answer, behaviour.delayMs)
      else answer()
      for (const wake of waiters) wake()
    })
  }

  function record(index, path, body, now) {
    let eventId
    try {
      eventId = JSON.parse(body.toString('utf8')).eventId
    } catch {
      run.malformed += 1
      return
    }
    const key = `${index}${path}|${eventId}`
    if (run.seen.has(key)) {
      run.duplicates += 1
      return
    }
    run.seen.add(key)
    const published = publishedAt.get(eventId)
    if (published === undefined) {
      run.unknown += 1
      return
    }
    run.received += 1
    run.firstAt ??= now
    run.lastAt = now
    const stats = run.byEndpoint[index]
    stats.received += 1
    stats.lastAt = now
    stats.latencies.push(now - published)
  }

  for (let index = 0; index < count; index += 1) {
    const server = createServer((req, res) => onRequest(index, req, res))
    // Contenders keep connections alive; the receiver must not be the one that closes them.
    server.keepAliveTimeout = 60_000
    server.headersTimeout = 65_000
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
    endpoints.push({ server, url: `http://127.0.0.1:${server.address().port}`, behaviour: { delayMs: 0, failureRate: 0 } })
  }

  return {
    urls: endpoints.map((e) => e.url),
    /** Starts a new measurement: forget what was received, answer with these behaviours. */
    reset(behaviours = []) {
      run = freshRun(count)
      publishedAt = new Map()
      endpoints.forEach((endpoint, i) => {
        endpoint.behaviour = { delayMs: behaviours[i]?.delayMs ?? 0, failureRate: behaviours[i]?.failureRate ?? 0 }
      })
    },
    /** The publisher calls this just before it hands an event to the broker or queue. */
    published(eventId) {
      publishedAt.set(eventId, performance.now())
    },
    get run() {
      return run
    },
    /** Resolves when predicate(run) holds; rejects when nothing new arrived for stallMs. */
    waitUntil(predicate, stallMs) {
      return new Promise((resolve, reject) => {
        let lastCount = -1
        let lastProgress = performance.now()
        const check = () => {
          if (predicate(run)) return done(resolve)
          const total = run.received + run.duplicates
          if (total !== lastCount) {
            lastCount = total
            lastProgress = performance.now()
          }
        }
        const timer = setInterval(() => {
          check()
          if (performance.now() - lastProgress > stallMs) done(() => reject(new Error(`no progress for ${stallMs} ms (received ${run.received})`)))
        }, 200)
        const done = (finish) => {
          clearInterval(timer)
          waiters.delete(check)
          finish()
        }
        waiters.add(check)
        check()
      })
    },
    async close() {
      await Promise.all(endpoints.map(({ server }) => {
        server.closeAllConnections()
        return new Promise((resolve) => server.close(() => resolve()))
      }))
    },
  }
}

function freshRun(count) {
  return {
    received: 0,
    duplicates: 0,
    unknown: 0,
    malformed: 0,
    firstAt: undefined,
    lastAt: undefined,
    seen: new Set(),
    byEndpoint: Array.from({ length: count }, () => ({ received: 0, lastAt: undefined, latencies: [] })),
  }
}
