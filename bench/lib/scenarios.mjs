// The workloads. `preload` runs fill the queue first and then start the contender, so throughput is
// the contender's alone (not the publisher's); `paced` runs publish at a steady rate into a running
// contender and measure publish → receipt latency.
import { makeEvent, makeSubscriptions, storeOf } from './workload.mjs'

/** Every run of one scenario (the scale scenario has one per subscription count). */
export function scenarioRuns(name, settings, urls) {
  const hook = (url, i) => `${url}/hook/${i}`
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
      return settings.scaleSubscriptions.map((count) => ({
        name, title: `${settings.scaleEvents} events, ${count} subscriptions in the tenant, each event matching one`, mode: 'preload',
        subscriptionCount: count,
        arrivalsOnly: true,
        subscriptions: makeSubscriptions(Array.from({ length: count }, (_, i) => hook(urls[0], i)), { byStore: true }),
        events: settings.scaleEvents, eventFor: (runId, k) => makeEvent(runId, k, storeOf(k % count)),
        expected: settings.scaleEvents,
      }))
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
