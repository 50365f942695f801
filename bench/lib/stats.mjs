/** Nearest-rank percentiles of a list of milliseconds, rounded to 0.1 ms. */
export function percentiles(values) {
  if (values.length === 0) return { p50: null, p95: null, p99: null, max: null }
  const sorted = Float64Array.from(values).sort()
  const at = (p) => round(sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)])
  return { p50: at(50), p95: at(95), p99: at(99), max: round(sorted[sorted.length - 1]) }
}

const round = (ms) => Math.round(ms * 10) / 10

/** Deliveries per second between the first and the last receipt. */
export function throughput(run) {
  if (run.received < 2 || run.lastAt === run.firstAt) return null
  return Math.round(((run.received - 1) * 1000) / (run.lastAt - run.firstAt))
}
