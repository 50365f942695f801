// The workloads. `preload` runs fill the queue first and then start the contender, so throughput is
// the contender's alone (not the publisher's); `paced` runs publish at a steady rate into a running
// contender and measure publish → receipt latency.
import { BENCH_TENANT, makeEvent, makeSubscriptions, storeOf, tenantOf } from './workload.mjs'

const hook = (url, i) => `${url}/hook/${i}`

/**
 * `count` subscriptions over `tenants` tenants, each event matching exactly one, every event a different
 * subscription (so each is the first delivery to it: the cold path). Seeded in chunks of 10,000.
 */
function scaleRun(name, settings, urls, count, tenants) {
  const chunk = 10_000
  const perTenant = Math.ceil(count / tenants)
  return {
    name, title: `${settings.scaleEvents} events, ${count} subscriptions over ${tenants} tenant(s), each event matching one`, mode: 'preload',
    subscriptionCount: count,
    tenants,
    arrivalsOnly: true,
    * subscriptions() {
      for (let start = 0; start < count; start += chunk) {
        const length = Math.min(chunk, count - start)
        yield makeSubscriptions(Array.from({ length }, (_, n) => hook(urls[0], start + n)), { byStore: true, tenants, offset: start })
      }
    },
    events: settings.scaleEvents,
    // Event k: tenant k mod T, store ⌊k / T⌋, so consecutive events go to different tenants and stores.
    eventFor: (runId, k) => makeEvent(runId, k, storeOf(Math.floor(k / tenants) % perTenant), tenantOf(k % tenants)),
    expected: settings.scaleEvents,
  }
}

/**
 * One tenant with many subscriptions (all on endpoint 0) that gets events and, when `churning`, has
 * subscriptions created and removed all along; another tenant with one subscription per endpoint 1..n
 * whose publish → webhook latency is what is measured. Run quiet, then churning: the ratio of the two p99s.
 */
function churnRun(name, settings, urls, churning) {
  const others = settings.churnOtherEndpoints
  const busy = settings.churnSubscriptions
  const busySubscriptions = makeSubscriptions(Array.from({ length: busy }, (_, i) => hook(urls[0], i)), { byStore: true })
    .map((sub) => ({ ...sub, tenantId: CHURN_TENANT }))
  const otherSubscriptions = makeSubscriptions(urls.slice(1, 1 + others).map((url, i) => hook(url, i)), { byStore: true })
  const events = settings.churnRate * settings.churnSeconds
  const otherEvents = Math.ceil(events / 2)
  return {
    name: churning ? 'churn' : 'churn-quiet',
    title: `${settings.churnRate} events/s for ${settings.churnSeconds} s, half to a tenant of ${busy} subscriptions${churning ? ` churning ${settings.churnChanges}/s` : ' (quiet)'}, half to another tenant of ${others}`,
    mode: 'paced', rate: settings.churnRate,
    subscriptionCount: busy,
    arrivalsOnly: true,
    subscriptions: [...busySubscriptions, ...otherSubscriptions],
    // Even events to the other tenant (store i → endpoint i+1), odd ones to a random store of the busy tenant.
    eventFor: (runId, k) => (k % 2 === 0
      ? makeEvent(runId, k, storeOf((k / 2) % others), BENCH_TENANT)
      : makeEvent(runId, k, storeOf(Math.floor(Math.random() * busy)), CHURN_TENANT)),
    events,
    expected: events,
    // Measured: the other tenant's endpoints; the busy tenant's endpoint 0 is left out of the latency.
    expectedHealthy: otherEvents,
    slowEndpoint: 0,
    churnTenant: CHURN_TENANT,
    churn: churning ? { tenantId: CHURN_TENANT, changesPerSecond: settings.churnChanges, url: hook(urls[0], busy) } : undefined,
    nodeArgs: [`--max-old-space-size=${settings.churnHeapMb}`],
  }
}

export const CHURN_TENANT = 'bench-churning'

/** Every run of one scenario (the scale scenario has one per subscription count). */
export function scenarioRuns(name, settings, urls) {
  // One subscription per endpoint, subscription i matching store i; event k goes to store k mod count.
  const spread = (count) => ({
    subscriptions: makeSubscriptions(urls.slice(0, count).map(hook), { byStore: true }),
    events: settings.events,
    eventFor: (runId, k) => makeEvent(runId, k, storeOf(k % count)),
  })
  switch (name) {
    case 'single':
      return [{
        name, title: `${settings.events} events, each matching 1 of ${settings.singleEndpoints} subscriptions`, mode: 'preload',
        ...spread(settings.singleEndpoints),
        expected: settings.events,
      }]
    case 'fanout':
      return [{
        name, title: `${settings.fanoutEvents} events × ${settings.fanout} subscriptions`, mode: 'preload',
        subscriptions: makeSubscriptions(urls.slice(0, settings.fanout).map(hook)),
        events: settings.fanoutEvents, eventFor: (runId, k) => makeEvent(runId, k),
        expected: settings.fanoutEvents * settings.fanout,
      }]
    case 'latency':
      return [{
        name, title: `${settings.latencyRate} events/s for ${settings.latencySeconds} s, each matching 1 of ${settings.singleEndpoints} subscriptions`, mode: 'paced',
        rate: settings.latencyRate,
        ...spread(settings.singleEndpoints),
        events: settings.latencyRate * settings.latencySeconds,
        expected: settings.latencyRate * settings.latencySeconds,
      }]
    case 'slow': {
      const endpoints = settings.slowEndpoints
      const events = settings.slowRate * settings.slowSeconds
      const slowEvents = Math.ceil(events / endpoints)
      return [{
        name, title: `${settings.slowRate} events/s for ${settings.slowSeconds} s over ${endpoints} endpoints, endpoint 0 answers in ${settings.slowMs} ms`,
        mode: 'paced', rate: settings.slowRate,
        ...spread(endpoints),
        behaviours: [{ delayMs: settings.slowMs }],
        events,
        expected: events,
        // Done when every healthy endpoint got its webhooks; the slow one's backlog is not waited for.
        expectedHealthy: events - slowEvents,
        slowEndpoint: 0,
      }]
    }
    case 'scale':
      return [
        ...settings.scaleSubscriptions.map((count) => scaleRun(name, settings, urls, count, 1)),
        ...(settings.scaleMillion ? [scaleRun(name, settings, urls, 1_000_000, 100)] : []),
      ]
    case 'churn':
      return [false, true].map((churning) => churnRun(name, settings, urls, churning))
    case 'ordered':
      return [{
        name, title: `${settings.orderedEvents} events over ${settings.orderedStores} stores, 1 subscription delivering in order per store`, mode: 'preload',
        arrivalsOnly: true,
        subscriptions: makeSubscriptions([hook(urls[0], 0)], { ordered: true }),
        events: settings.orderedEvents, eventFor: (runId, k) => makeEvent(runId, k, storeOf(k % settings.orderedStores)),
        expected: settings.orderedEvents,
      }]
    default:
      throw new Error(`unknown scenario ${name}`)
  }
}
