import { useEffect, useState } from 'preact/hooks'
import { api, type AttemptRecord, type ListedSubscription, type Subscription } from './api.js'
import { href, type ViewProps } from './console.js'
import { Badge, Duration, errorNotice, NoticeLine, outcomeTone, Sparkline, Time, useAction, type Notice } from './parts.js'

const flowName = (subscription: Subscription) => subscription.flow.workflowName ?? subscription.id

/** `inventory.goods-received.v1` → "Goods received", with the exact type beneath it. */
function EventType({ type }: { type: string }) {
  const name = type.split('.')[1]?.replace(/-/g, ' ') ?? type
  return (
    <span class="stack">
      <span>{name.charAt(0).toUpperCase() + name.slice(1)}</span>
      <code class="muted small">{type}</code>
    </span>
  )
}

function StatusBadge({ status }: { status: string }) {
  return <Badge tone={status === 'active' ? 'ok' : 'bad'}>{status === 'active' ? 'Active' : 'Disabled'}</Badge>
}

function LastAttempt({ subscription }: { subscription: ListedSubscription }) {
  const last = subscription.activity.lastAttempt
  if (!last) return <span class="muted">None yet</span>
  return (
    <span class="stack">
      <span><Badge tone={outcomeTone(last.outcome)}>{last.outcome}</Badge> {last.status ?? 'no answer'}</span>
      <span class="muted small"><Time at={last.at} /></span>
    </span>
  )
}

/** The tenant's subscriptions, 50 per page from the API; the filters apply to what is loaded. */
export function SubscriptionsView({ fail }: ViewProps) {
  const [items, setItems] = useState<ListedSubscription[]>([])
  const [nextCursor, setNextCursor] = useState<string>()
  const [loading, setLoading] = useState(true)
  const [notice, setNotice] = useState<Notice>()
  const [store, setStore] = useState('')
  const [status, setStatus] = useState('')

  async function load(cursor?: string) {
    setLoading(true)
    try {
      const page = await api.subscriptions(cursor)
      setItems((loaded) => (cursor ? [...loaded, ...page.items] : page.items))
      setNextCursor(page.nextCursor)
      setNotice(undefined)
    } catch (error) {
      fail(error)
      setNotice(errorNotice(error))
    } finally {
      setLoading(false)
    }
  }
  useEffect(() => { void load() }, [])

  const wanted = store.trim().toLowerCase()
  const shown = items.filter((subscription) =>
    (!status || subscription.status === status) &&
    (!wanted || (subscription.filters.storeId ?? '').toLowerCase().includes(wanted)))

  return (
    <section aria-labelledby="subscriptions-title">
      <div class="title-row">
        <h1 id="subscriptions-title">Subscriptions</h1>
        <button type="button" onClick={() => load()} disabled={loading}>Refresh</button>
      </div>
      <form class="filters" role="search" aria-label="Filter subscriptions" onSubmit={(event) => event.preventDefault()}>
        <div class="field">
          <label for="filter-store">Store</label>
          <input id="filter-store" type="search" placeholder="Store ID" value={store} onInput={(event) => setStore(event.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="filter-status">Status</label>
          <select id="filter-status" value={status} onChange={(event) => setStatus(event.currentTarget.value)}>
            <option value="">Any</option>
            <option value="active">Active</option>
            <option value="disabled">Disabled</option>
          </select>
        </div>
      </form>
      <NoticeLine notice={notice} />
      <p class="muted small" aria-live="polite">
        {loading ? 'Loading…' : `Showing ${shown.length} of ${items.length} loaded${nextCursor ? '; more to load' : ''}.`}
      </p>
      {shown.length > 0 && (
        <table class="cards">
          <thead>
            <tr>
              <th scope="col">Flow</th>
              <th scope="col">Event type</th>
              <th scope="col">Store</th>
              <th scope="col">Status</th>
              <th scope="col">Callback</th>
              <th scope="col">Last attempt</th>
              <th scope="col">Last 24 h</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((subscription) => (
              <tr key={subscription.id}>
                <td data-label="Flow"><a href={href({ view: 'subscription', subscriptionId: subscription.id })}>{flowName(subscription)}</a></td>
                <td data-label="Event type"><EventType type={subscription.eventType} /></td>
                <td data-label="Store">{subscription.filters.storeId ?? <span class="muted">All stores</span>}</td>
                <td data-label="Status"><StatusBadge status={subscription.status} /></td>
                <td data-label="Callback" class="callback">{subscription.callback}</td>
                <td data-label="Last attempt"><LastAttempt subscription={subscription} /></td>
                <td data-label="Last 24 h">
                  <Sparkline delivered={subscription.activity.delivered} failed={subscription.activity.failed} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {nextCursor && <button type="button" class="more" onClick={() => load(nextCursor)} disabled={loading}>Load more</button>}
    </section>
  )
}

/** A local date-time field's value for a moment (the field has no time zone; the browser's applies). */
function localInputValue(at: Date): string {
  const local = new Date(at.getTime() - at.getTimezoneOffset() * 60_000)
  return local.toISOString().slice(0, 16)
}

/** One subscription: what it is, its buttons, and its attempts as a timeline, newest first. */
export function SubscriptionView({ subscriptionId, fail }: ViewProps & { subscriptionId: string }) {
  const [subscription, setSubscription] = useState<Subscription>()
  const [attempts, setAttempts] = useState<AttemptRecord[]>()
  const { busy, notice, setNotice, act } = useAction(fail, () => load())
  const [since, setSince] = useState(() => localInputValue(new Date(Date.now() - 86_400_000)))

  async function load() {
    try {
      const [one, history] = await Promise.all([api.subscription(subscriptionId), api.attempts(subscriptionId)])
      setSubscription(one)
      setAttempts(history.items)
    } catch (error) {
      fail(error)
      setNotice(errorNotice(error))
    }
  }
  useEffect(() => { void load() }, [subscriptionId])

  const sendTest = () => act('test', async () => `Test notification queued (webhook-id ${(await api.sendTest(subscriptionId)).deliveryId}).`)
  const toggle = () => act('status', async () => {
    const changed = subscription?.status === 'active' ? await api.disable(subscriptionId) : await api.enable(subscriptionId)
    return changed.status === 'active' ? 'Subscription enabled.' : 'Subscription disabled: it receives nothing until enabled.'
  })
  const redeliver = (event: Event) => {
    event.preventDefault()
    const at = new Date(since)
    if (Number.isNaN(at.getTime())) {
      setNotice({ kind: 'error', text: 'Enter the date and time to redeliver from.' })
      return
    }
    void act('redeliver', async () => {
      const { count } = await api.redeliver(subscriptionId, at.toISOString())
      return count === 0 ? 'No dead letters of this subscription since then.' : `${count} dead ${count === 1 ? 'letter' : 'letters'} queued again.`
    })
  }

  if (!subscription) {
    return (
      <section>
        <p><a href="#/subscriptions">← Subscriptions</a></p>
        <NoticeLine notice={notice} />
        {!notice && <p class="muted">Loading…</p>}
      </section>
    )
  }
  const slowest = Math.max(0, ...(attempts ?? []).map((attempt) => attempt.durationMs))
  return (
    <section aria-labelledby="subscription-title">
      <p><a href="#/subscriptions">← Subscriptions</a></p>
      <div class="title-row">
        <h1 id="subscription-title">{flowName(subscription)}</h1>
        <StatusBadge status={subscription.status} />
      </div>
      <dl class="facts">
        <dt>ID</dt><dd><code>{subscription.id}</code></dd>
        <dt>Event type</dt><dd><code>{subscription.eventType}</code></dd>
        <dt>Callback</dt><dd class="callback">{subscription.callback}</dd>
        <dt>Store</dt><dd>{subscription.filters.storeId ?? 'All stores'}</dd>
        {subscription.filters.sku !== undefined && <><dt>SKU</dt><dd>{subscription.filters.sku}</dd></>}
        {subscription.filters.minQuantity !== undefined && <><dt>Minimum quantity</dt><dd>{subscription.filters.minQuantity}</dd></>}
        {subscription.filters.reason !== undefined && <><dt>Reason</dt><dd>{subscription.filters.reason}</dd></>}
        <dt>Delivery</dt><dd>{subscription.ordered ? 'In order per store' : 'As soon as possible'}</dd>
        <dt>Flow rate</dt><dd>{subscription.flowRateLimit ?? 'The deployment\'s (FLOW_RATE_LIMIT)'}</dd>
        {subscription.flow.platform && <><dt>Platform</dt><dd>{subscription.flow.platform}</dd></>}
        <dt>Created</dt><dd><Time at={subscription.createdAt} /></dd>
        {subscription.disabledReason && <><dt>Disabled</dt><dd>{subscription.disabledReason}{subscription.disabledAt && <> (<Time at={subscription.disabledAt} />)</>}</dd></>}
      </dl>
      <div class="actions">
        <button type="button" class="primary" onClick={sendTest} disabled={busy !== undefined || subscription.status !== 'active'}>Send test</button>
        <button type="button" onClick={toggle} disabled={busy !== undefined}>{subscription.status === 'active' ? 'Disable' : 'Enable'}</button>
        <a class="button-link" href={href({ view: 'dead-letters', subscriptionId })}>Dead letters</a>
      </div>
      <form class="redeliver" onSubmit={redeliver}>
        <div class="field">
          <label for="redeliver-since">Redeliver since</label>
          <input id="redeliver-since" type="datetime-local" required value={since} onInput={(event) => setSince(event.currentTarget.value)} />
        </div>
        <button type="submit" disabled={busy !== undefined}>Redeliver</button>
      </form>
      <NoticeLine notice={notice} />
      <h2>Attempts</h2>
      {attempts && attempts.length === 0 && <p class="muted">No delivery attempts recorded yet.</p>}
      <ol class="timeline" aria-label="Delivery attempts, newest first">
        {(attempts ?? []).map((attempt) => (
          <li key={`${attempt.deliveryId}-${attempt.attempt}-${attempt.at}`} class={`timeline-item tone-${outcomeTone(attempt.outcome)}`}>
            <div class="timeline-head">
              <Badge tone={outcomeTone(attempt.outcome)}>{attempt.outcome}</Badge>
              <span class="status">{attempt.status === null ? 'no answer' : `HTTP ${attempt.status}`}</span>
              <Duration ms={attempt.durationMs} slowest={slowest} />
            </div>
            <div class="muted small">
              <Time at={attempt.at} /> · attempt {attempt.attempt} · <code>{attempt.deliveryId}</code>
              {attempt.nextAttemptAt && <> · next <Time at={attempt.nextAttemptAt} /></>}
            </div>
            {attempt.error && <div class="small">{attempt.error}</div>}
          </li>
        ))}
      </ol>
    </section>
  )
}
