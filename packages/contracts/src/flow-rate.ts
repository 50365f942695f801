/**
 * A flow rate: at most `count` webhooks per subscription in any window of `windowMs` (DESIGN, "Flow
 * rate"). Written `<count>/<duration>` with the units `ms s m h`, as FLOW_RATE_LIMIT and the operator's
 * per-subscription override take it; `unlimited` lifts the limit (a receiver that is not a flow).
 */
export interface FlowRate {
  count: number
  windowMs: number
}

/** Power Automate's limit for a flow on the Low profile: 4,500 runtime calls per 5 minutes. */
export const DEFAULT_FLOW_RATE_LIMIT = '4500/5m'
/** The override that lifts the limit for one subscription. */
export const UNLIMITED_FLOW_RATE = 'unlimited'
/** The textual form the override and the setting accept (a schema pattern, so a 400 says what to write). */
export const FLOW_RATE_PATTERN = '^([1-9][0-9]{0,8}/[1-9][0-9]{0,8}(ms|s|m|h)|unlimited)$'

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }
/** The longest window accepted: a day (a window as long as the history kept would never slide). */
const MAX_WINDOW_MS = 86_400_000

/** `40/10s` → { count: 40, windowMs: 10000 }; `unlimited` → null; undefined when it is neither. */
export function parseFlowRate(text: string): FlowRate | null | undefined {
  const trimmed = text.trim()
  if (trimmed === UNLIMITED_FLOW_RATE) return null
  const match = /^(\d{1,9})\/(\d{1,9})(ms|s|m|h)$/.exec(trimmed)
  if (!match) return undefined
  const count = Number(match[1])
  const windowMs = Number(match[2]) * UNITS[match[3]!]!
  if (count < 1 || windowMs < 1 || windowMs > MAX_WINDOW_MS) return undefined
  return { count, windowMs }
}

/** What to write instead of an unreadable flow rate (a setting's start-up error, an API's 400). */
export function flowRateProblem(name: string, text: string): string {
  return `${name} "${text}" must be <count>/<duration> with a unit ms, s, m or h and a window of at most 24h (e.g. "4500/5m", "40/10s"), or "${UNLIMITED_FLOW_RATE}"`
}
