// The figures as a terminal table and as the markdown pasted into docs/benchmarks.md, with the
// ratios the dispatcher issue sets as targets.
const fmt = (value, digits = 0) => (value === null || value === undefined ? '–' : Number(value).toLocaleString('en-US', { maximumFractionDigits: digits }))

function row(r) {
  const scenario = r.subscriptions ? `${r.scenario} (${r.subscriptions.toLocaleString('en-US')} subs${r.tenants ? `, ${r.tenants} tenants` : ''})` : r.scenario
  if (r.notMeasured) return [scenario, r.label, '–', '–', '–', '–', '–', '–', '–', `not measured: ${r.notMeasured}`]
  const cpu = r.cpuMsPerWebhook ? [r.cpuMsPerWebhook.contender, r.cpuMsPerWebhook.rabbitmq, r.cpuMsPerWebhook.redis].map((v) => fmt(v, 3)).join(' / ') : '–'
  const latency = r.latencyMs ?? r.healthyLatencyMs ?? {}
  const delivered = r.healthyExpected === undefined ? `${fmt(r.received)}/${fmt(r.expected)}` : `${fmt(r.healthyReceived)}/${fmt(r.healthyExpected)} healthy`
  const notes = []
  if (r.scenario.startsWith('churn')) notes.push(`the other tenant's webhooks measured; the busy tenant got ${fmt(r.slowReceived)}${r.churnChanges ? `; ${fmt(r.churnChanges)} subscription changes` : ''}`)
  else if (r.healthyDoneAfterS !== undefined) notes.push(`healthy done ${r.healthyDoneAfterS} s after the first publish (publishing took ${r.publishSeconds} s); slow endpoint got ${fmt(r.slowReceived)}`)
  if (r.firstWebhookMs !== undefined) notes.push(`first webhook ${fmt(r.firstWebhookMs)} ms after process start`)
  if (r.duplicates) notes.push(`${r.duplicates} duplicates`)
  if (r.loadAverage !== undefined) notes.push(`load ${r.loadAverage}`)
  if (r.error) notes.push(r.error)
  return [scenario, r.label, delivered, fmt(r.webhooksPerSecond), fmt(latency.p50, 1), fmt(latency.p95, 1), fmt(latency.p99, 1), fmt(r.peakRssMb), cpu, notes.join('; ')]
}

const header = ['scenario', 'contender', 'delivered', 'webhooks/s', 'p50 ms', 'p95 ms', 'p99 ms', 'peak RSS MB', 'CPU ms/webhook: own / RabbitMQ / Redis', 'notes']

const delivery = (results) => results.runs.filter((r) => r.scenario !== 'ingest')
const ingest = (results) => results.runs.filter((r) => r.scenario === 'ingest')

// Its own table, whose first column is not `scenario` (the deploy checks read the first `| scenario |` table).
const ingestHeader = ['ingest', 'requests/s (closed loop)', 'steady rate /s', 'p50 ms', 'p95 ms', 'p99 ms', 'peak RSS MB', 'notes']
function ingestRow(r) {
  const notes = [r.failed ? `${r.failed} not answered as expected` : '', r.error ?? ''].filter(Boolean).join('; ')
  return [r.label, fmt(r.perSecond), fmt(r.rate), fmt(r.latencyMs?.p50, 1), fmt(r.latencyMs?.p95, 1), fmt(r.latencyMs?.p99, 1), fmt(r.peakRssMb), notes]
}

function textTable(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)))
  const lines = rows.map((r) => r.map((cell, i) => String(cell).padEnd(widths[i])).join('  ').trimEnd())
  lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '))
  return lines
}

export function renderTable(results) {
  const extra = ingest(results).length ? ['', ...textTable([ingestHeader, ...ingest(results).map(ingestRow)])] : []
  const main = delivery(results).length ? textTable([header, ...delivery(results).map(row)]) : []
  return [...main, ...extra, '', ...verdicts(results)].join('\n')
}

function find(results, scenario, contender, subscriptions) {
  return results.runs.find((r) => r.scenario === scenario && r.contender === contender && !r.notMeasured && !r.error && (subscriptions === undefined || r.subscriptions === subscriptions))
}

/** The issue's targets, each as measured (or why it could not be). */
export function verdicts(results) {
  const lines = []
  const ratio = (a, b) => (a && b ? Math.round((a / b) * 100) / 100 : null)
  for (const scenario of ['single', 'fanout']) {
    const arrivals = find(results, scenario, 'arrivals')?.webhooksPerSecond
    const bull = find(results, scenario, 'bullmq')?.webhooksPerSecond
    const bare = find(results, scenario, 'amqp')?.webhooksPerSecond
    const twoHops = find(results, scenario, 'amqp2')?.webhooksPerSecond
    if (bare && twoHops) lines.push(`${scenario}: a second broker hop alone (bare loop, two hops / one hop) = ${fmt(ratio(twoHops, bare), 2)}×`)
    if (!arrivals) {
      lines.push(`${scenario}: Arrivals not measured; BullMQ ${fmt(bull)}/s, bare amqplib ${fmt(bare)}/s`)
      continue
    }
    const vsBull = ratio(arrivals, bull)
    const vsBare = ratio(arrivals, bare)
    const verdict = (value, target) => (value === null ? 'not measured' : value >= target ? 'met' : 'missed')
    lines.push(`${scenario}: Arrivals/BullMQ = ${fmt(vsBull, 2)}× (target ≥ 1.5: ${verdict(vsBull, 1.5)}), Arrivals/bare amqplib = ${fmt(vsBare, 2)}× (target ≥ 0.8: ${verdict(vsBare, 0.8)})`)
  }
  const latency = find(results, 'latency', 'arrivals')
  if (latency) {
    const p99 = latency.latencyMs.p99
    lines.push(`latency: Arrivals p99 ${fmt(p99, 1)} ms at ${results.settings.latencyRate} events/s (target ≤ 25 ms: ${p99 <= 25 ? 'met' : 'missed'})`)
  }
  const scale = results.runs.filter((r) => r.scenario === 'scale' && r.webhooksPerSecond)
  const low = scale[0]
  for (const high of scale.slice(1)) {
    const change = Math.round(((high.webhooksPerSecond - low.webhooksPerSecond) / low.webhooksPerSecond) * 1000) / 10
    const over = high.tenants ? ` over ${high.tenants} tenants` : ''
    lines.push(`scale: ${fmt(low.subscriptions)} → ${fmt(high.subscriptions)} subscriptions${over}: ${fmt(low.webhooksPerSecond)} → ${fmt(high.webhooksPerSecond)} webhooks/s (${change > 0 ? '+' : ''}${change}%; target within 10%: ${Math.abs(change) <= 10 ? 'met' : 'missed'})`)
    const bound = high.subscriptions >= 1_000_000 ? 250 : 200
    lines.push(`scale memory: peak RSS ${fmt(high.peakRssMb)} MB with ${fmt(high.subscriptions)} subscriptions${over} (target ≤ ${bound} MB: ${high.peakRssMb <= bound ? 'met' : 'missed'})`)
    if (high.firstWebhookMs !== undefined) lines.push(`cold start: first webhook ${fmt(high.firstWebhookMs)} ms after the process started beside ${fmt(high.subscriptions)} subscriptions and a full queue (target ≤ 1,000 ms: ${high.firstWebhookMs <= 1000 ? 'met' : 'missed'})`)
  }
  const inventory = find(results, 'ingest', 'inventory')
  const bareIngest = find(results, 'ingest', 'bare')
  if (inventory && bareIngest) {
    const times = ratio(inventory.perSecond, bareIngest.perSecond)
    const p99 = inventory.latencyMs.p99
    lines.push(`ingest: inventory ${fmt(inventory.perSecond)} receipts/s against the bare route's ${fmt(bareIngest.perSecond)} (${fmt(times, 2)}×; target ≥ 0.8: ${times >= 0.8 ? 'met' : 'missed'}); p99 of the 202 at ${fmt(inventory.rate)}/s ${fmt(p99, 1)} ms (bare ${fmt(bareIngest.latencyMs.p99, 1)} ms; target ≤ 20 ms: ${p99 <= 20 ? 'met' : 'missed'})`)
  }
  const subscribe = find(results, 'ingest', 'subscribe')
  if (subscribe) lines.push(`subscribe: ${fmt(subscribe.perSecond)} subscriptions/s through the connector API; p99 ${fmt(subscribe.latencyMs.p99, 1)} ms at ${fmt(subscribe.rate)}/s`)
  const quiet = find(results, 'churn-quiet', 'arrivals')
  const churn = find(results, 'churn', 'arrivals')
  if (quiet && churn) {
    const times = ratio(churn.healthyLatencyMs.p99, quiet.healthyLatencyMs.p99)
    lines.push(`churn: the other tenant's p99 ${fmt(quiet.healthyLatencyMs.p99, 1)} ms quiet → ${fmt(churn.healthyLatencyMs.p99, 1)} ms with ${fmt(churn.churnChanges)} changes (${fmt(times, 2)}×; target ≤ 2×: ${times <= 2 ? 'met' : 'missed'}); peak RSS ${fmt(churn.peakRssMb)} MB with a ${results.settings.churnHeapMb} MB heap limit, exit ${churn.exit}`)
  }
  const rss = results.runs.filter((r) => r.contender === 'arrivals' && r.peakRssMb && ['single', 'slow'].includes(r.scenario))
  if (rss.length) {
    const peak = Math.max(...rss.map((r) => r.peakRssMb))
    lines.push(`memory: Arrivals peak RSS ${peak} MB at full speed and with a slow endpoint (target ≤ 200 MB: ${peak <= 200 ? 'met' : 'missed'})`)
  }
  return lines
}

export function renderMarkdown(results) {
  const m = results.machine
  const s = results.settings
  const markdown = (head, rows) => [head, head.map(() => '---'), ...rows].map((r) => `| ${r.map((c) => String(c).replaceAll('|', '\\|')).join(' | ')} |`)
  const table = markdown(header, delivery(results).map(row))
  if (ingest(results).length) table.push('', ...markdown(ingestHeader, ingest(results).map(ingestRow)))
  return [
    `Measured ${results.date.slice(0, 16).replace('T', ' ')} UTC on ${m.cpus} cores (${m.cpuModel}), ${m.memoryGiB} GiB RAM, ${m.os}, Node ${m.node}, RabbitMQ ${m.rabbitmq}, Redis ${m.redis}; broker, Redis, receiver and contender share the machine.`,
    '',
    results.dispatcher ? `Dispatcher: commit ${results.dispatcher.commit}${results.dispatcher.uncommittedChanges ? ' plus uncommitted changes in the working tree' : ''}.` : 'Dispatcher: revision unknown.',
    '',
    `Settings: concurrency (and AMQP prefetch) ${s.concurrency}; dispatcher replicas ${s.dispatcherReplicas}; single ${s.events} events over ${s.singleEndpoints} subscriptions; fan-out ${s.fanoutEvents} × ${s.fanout}; latency ${s.latencyRate}/s for ${s.latencySeconds} s; slow endpoint ${s.slowMs} ms among ${s.slowEndpoints}, ${s.slowRate}/s for ${s.slowSeconds} s; scale ${s.scaleEvents} events with ${s.scaleSubscriptions.join(' and ')} subscriptions${s.scaleMillion ? ' and 1000000 over 100 tenants' : ''}; churn ${s.churnRate}/s for ${s.churnSeconds} s, ${s.churnSubscriptions} subscriptions, ${s.churnChanges} changes/s, ${s.churnHeapMb} MB heap; ingest ${s.ingestCount} requests ${s.ingestConcurrency} in flight, then ${s.ingestRate}/s for ${s.ingestSeconds} s (subscribe ${s.subscribeCount}, then ${s.subscribeRate}/s); dispatcher RETRY_SCHEDULE ${s.retrySchedule}${Object.keys(s.dispatcherEnv ?? {}).length ? `, ${Object.entries(s.dispatcherEnv).map(([k, v]) => `${k}=${v}`).join(', ')}` : ''}.`,
    '',
    ...table,
    '',
    ...verdicts(results).map((line) => `- ${line}`),
    '',
  ].join('\n')
}
