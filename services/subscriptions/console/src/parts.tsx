import type { ComponentChildren } from 'preact'
import { useState } from 'preact/hooks'

export interface Notice {
  kind: 'ok' | 'error'
  text: string
}

export function errorNotice(error: unknown): Notice {
  return { kind: 'error', text: error instanceof Error ? error.message : String(error) }
}

/**
 * An operator's action: which one is running (its buttons wait), then its message, or the API's
 * error (a refused key signs out). `then` reloads what the action changed.
 */
export function useAction(fail: (error: unknown) => void, then: () => Promise<void>) {
  const [busy, setBusy] = useState<string>()
  const [notice, setNotice] = useState<Notice>()
  async function act(what: string, action: () => Promise<string>) {
    setBusy(what)
    try {
      setNotice({ kind: 'ok', text: await action() })
      await then()
    } catch (error) {
      fail(error)
      setNotice(errorNotice(error))
    } finally {
      setBusy(undefined)
    }
  }
  return { busy, notice, setNotice, act }
}

/** Success is announced politely, an error at once; both stay until the next action. */
export function NoticeLine({ notice }: { notice: Notice | undefined }) {
  return (
    <div class="notice-slot" role="status" aria-live="polite">
      {notice && <p class={`notice notice-${notice.kind}`}>{notice.text}</p>}
    </div>
  )
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' })

export function Time({ at }: { at: string }) {
  return <time dateTime={at}>{dateTime.format(new Date(at))}</time>
}

export function Badge({ tone, children }: { tone: 'ok' | 'bad' | 'warn' | 'plain'; children: ComponentChildren }) {
  return <span class={`badge badge-${tone}`}>{children}</span>
}

export function outcomeTone(outcome: string): 'ok' | 'bad' | 'warn' {
  if (outcome === 'delivered') return 'ok'
  if (outcome === 'retrying' || outcome === 'circuit-open' || outcome === 'skipped') return 'warn'
  return 'bad'
}

const sum = (values: readonly number[]) => values.reduce((total, value) => total + value, 0)

const BAR = 4
const GAP = 1
const HEIGHT = 24

/** 24 hourly bars, delivered below failed; drawn here (no chart library needed for 48 rectangles). */
export function Sparkline({ delivered, failed }: { delivered: readonly number[]; failed: readonly number[] }) {
  const highest = Math.max(1, ...delivered.map((count, hour) => count + (failed[hour] ?? 0)))
  const scale = (count: number) => (count / highest) * (HEIGHT - 2)
  const label = `${sum(delivered)} delivered, ${sum(failed)} failed in the last 24 hours`
  return (
    <span class="spark">
      <svg viewBox={`0 0 ${delivered.length * (BAR + GAP)} ${HEIGHT}`} width="120" height="24" role="img" aria-label={label}>
        <line class="spark-base" x1="0" x2={delivered.length * (BAR + GAP)} y1={HEIGHT - 0.5} y2={HEIGHT - 0.5} />
        {delivered.map((ok, hour) => {
          const okHeight = scale(ok)
          const badHeight = scale(failed[hour] ?? 0)
          const x = hour * (BAR + GAP)
          return (
            <g key={hour}>
              {okHeight > 0 && <rect class="spark-ok" x={x} y={HEIGHT - okHeight} width={BAR} height={okHeight} />}
              {badHeight > 0 && <rect class="spark-bad" x={x} y={HEIGHT - okHeight - badHeight} width={BAR} height={badHeight} />}
            </g>
          )
        })}
      </svg>
      <span class="spark-text" aria-hidden="true">{sum(delivered)} ok · {sum(failed)} failed</span>
    </span>
  )
}

/** How long an attempt took, as text and as a bar against the slowest one shown. */
export function Duration({ ms, slowest }: { ms: number; slowest: number }) {
  const width = Math.max(2, Math.round((ms / Math.max(slowest, 1)) * 80))
  return (
    <span class="duration">
      <svg width="80" height="8" aria-hidden="true"><rect class="duration-bar" x="0" y="0" width={width} height="8" rx="2" /></svg>
      <span>{ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`}</span>
    </span>
  )
}
