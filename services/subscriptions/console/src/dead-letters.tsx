import { useEffect, useState } from 'preact/hooks'
import { api, type DeadLetter } from './api.js'
import { href, type ViewProps } from './console.js'
import { Badge, errorNotice, NoticeLine, Time, useAction } from './parts.js'

const PAGE = 25

/** The tenant's dead letters, newest first, a page at a time; optionally of one subscription. */
export function DeadLettersView({ subscriptionId, fail }: ViewProps & { subscriptionId?: string | undefined }) {
  const [items, setItems] = useState<DeadLetter[]>([])
  const [offset, setOffset] = useState(0)
  const [loading, setLoading] = useState(true)
  const { busy, notice, setNotice, act } = useAction(fail, () => load())

  async function load(from = offset) {
    setLoading(true)
    try {
      const page = await api.deadLetters({ offset: from, limit: PAGE, ...(subscriptionId ? { subscriptionId } : {}) })
      setItems(page.items)
      setOffset(from)
    } catch (error) {
      fail(error)
      setNotice(errorNotice(error))
    } finally {
      setLoading(false)
    }
  }
  useEffect(() => { void load(0) }, [])

  const replay = (deadLetter: DeadLetter) =>
    act(deadLetter.id, async () => `Replayed: queued again with webhook-id ${(await api.replay(deadLetter.id)).deliveryId}.`)
  const discard = (deadLetter: DeadLetter) => {
    if (!confirm(`Delete dead letter ${deadLetter.id}? It will not be delivered.`)) return
    void act(deadLetter.id, async () => {
      await api.discard(deadLetter.id)
      return `Deleted dead letter ${deadLetter.id}.`
    })
  }

  return (
    <section aria-labelledby="dead-letters-title">
      <div class="title-row">
        <h1 id="dead-letters-title">Dead letters</h1>
        <button type="button" onClick={() => load()} disabled={loading}>Refresh</button>
      </div>
      {subscriptionId && (
        <p>
          Of subscription <a href={href({ view: 'subscription', subscriptionId })}><code>{subscriptionId}</code></a> only.{' '}
          <a href={href({ view: 'dead-letters' })}>Show all</a>
        </p>
      )}
      <NoticeLine notice={notice} />
      {!loading && items.length === 0 && <p class="muted">{offset === 0 ? 'No dead letters: every delivery arrived or is still being retried.' : 'No more dead letters.'}</p>}
      {items.length > 0 && (
        <table class="cards">
          <thead>
            <tr>
              <th scope="col">Given up</th>
              <th scope="col">Class</th>
              <th scope="col">Subscription</th>
              <th scope="col">Reason</th>
              <th scope="col">Last status</th>
              <th scope="col">Attempts</th>
              <th scope="col"><span class="visually-hidden">Actions</span></th>
            </tr>
          </thead>
          <tbody>
            {items.map((deadLetter) => (
              <tr key={deadLetter.id}>
                <td data-label="Given up"><Time at={deadLetter.deadLetteredAt} /></td>
                <td data-label="Class"><Badge tone={deadLetter.class === 'endpoint' ? 'warn' : 'bad'}>{deadLetter.class}</Badge></td>
                <td data-label="Subscription">
                  {deadLetter.subscriptionId
                    ? <a href={href({ view: 'subscription', subscriptionId: deadLetter.subscriptionId })}><code>{deadLetter.subscriptionId}</code></a>
                    : <span class="muted">none</span>}
                </td>
                <td data-label="Reason" class="reason">{deadLetter.reason}</td>
                <td data-label="Last status">{deadLetter.lastStatus ?? <span class="muted">no answer</span>}</td>
                <td data-label="Attempts">{deadLetter.attempts}</td>
                <td class="row-actions">
                  <button
                    type="button"
                    onClick={() => replay(deadLetter)}
                    disabled={busy !== undefined || !deadLetter.replayable}
                    title={deadLetter.replayable ? undefined : 'Nothing to replay: Arrivals could not read this message'}
                  >Replay
                  </button>
                  <button type="button" class="danger" onClick={() => discard(deadLetter)} disabled={busy !== undefined}>Delete</button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <nav class="pager" aria-label="Dead letter pages">
        <button type="button" onClick={() => load(Math.max(0, offset - PAGE))} disabled={loading || offset === 0}>Previous</button>
        <span class="muted small">{items.length > 0 ? `${offset + 1}–${offset + items.length}` : ''}</span>
        <button type="button" onClick={() => load(offset + PAGE)} disabled={loading || items.length < PAGE}>Next</button>
      </nav>
    </section>
  )
}
