import { useEffect, useRef, useState } from 'preact/hooks'
import { api, ApiError, session } from './api.js'
import { DeadLettersView } from './dead-letters.js'
import { NoticeLine, type Notice } from './parts.js'
import { SubscriptionView, SubscriptionsView } from './subscriptions.js'

export type Route =
  | { view: 'subscriptions' }
  | { view: 'subscription'; subscriptionId: string }
  | { view: 'dead-letters'; subscriptionId?: string }

/** Hash routes, so the back button and a shared link work without any server-side routing. */
function routeOf(hash: string): Route {
  const [section, id] = hash.replace(/^#\/?/, '').split('/')
  if (section === 'dead-letters') return id ? { view: 'dead-letters', subscriptionId: decodeURIComponent(id) } : { view: 'dead-letters' }
  if (section === 'subscriptions' && id) return { view: 'subscription', subscriptionId: decodeURIComponent(id) }
  return { view: 'subscriptions' }
}

export function href(route: Route): string {
  if (route.view === 'subscription') return `#/subscriptions/${encodeURIComponent(route.subscriptionId)}`
  if (route.view === 'dead-letters') return route.subscriptionId ? `#/dead-letters/${encodeURIComponent(route.subscriptionId)}` : '#/dead-letters'
  return '#/subscriptions'
}

/** What every view gets: a way to report an API failure (a refused key signs out; the view shows the rest). */
export interface ViewProps {
  fail(error: unknown): void
}

export function Console() {
  const [signedIn, setSignedIn] = useState(() => session.key() !== null)
  const [signInNotice, setSignInNotice] = useState<Notice>()
  const [route, setRoute] = useState(() => routeOf(location.hash))

  useEffect(() => {
    const follow = () => setRoute(routeOf(location.hash))
    addEventListener('hashchange', follow)
    return () => removeEventListener('hashchange', follow)
  }, [])

  function signOut(notice?: Notice) {
    session.signOut()
    setSignInNotice(notice)
    setSignedIn(false)
  }

  function fail(error: unknown) {
    if (error instanceof ApiError && error.signsOut) signOut({ kind: 'error', text: error.message })
  }

  if (!signedIn) {
    return <SignIn notice={signInNotice} onSignedIn={() => { setSignInNotice(undefined); setSignedIn(true) }} onRefused={signOut} />
  }
  const section = route.view === 'dead-letters' ? 'dead-letters' : 'subscriptions'
  return (
    <>
      <header class="bar">
        <span class="brand">Arrivals <span class="brand-sub">operator console</span></span>
        <nav aria-label="Sections">
          <a href="#/subscriptions" aria-current={section === 'subscriptions' ? 'page' : undefined}>Subscriptions</a>
          <a href="#/dead-letters" aria-current={section === 'dead-letters' ? 'page' : undefined}>Dead letters</a>
        </nav>
        <button type="button" class="quiet" onClick={() => signOut({ kind: 'ok', text: 'Signed out.' })}>Sign out</button>
      </header>
      <main>
        {route.view === 'subscriptions' && <SubscriptionsView fail={fail} />}
        {route.view === 'subscription' && <SubscriptionView key={route.subscriptionId} subscriptionId={route.subscriptionId} fail={fail} />}
        {route.view === 'dead-letters' && <DeadLettersView key={route.subscriptionId ?? ''} subscriptionId={route.subscriptionId} fail={fail} />}
      </main>
    </>
  )
}

function SignIn({ notice, onSignedIn, onRefused }: { notice: Notice | undefined; onSignedIn(): void; onRefused(notice: Notice): void }) {
  const [key, setKey] = useState('')
  const [busy, setBusy] = useState(false)
  const field = useRef<HTMLInputElement>(null)
  useEffect(() => field.current?.focus(), [])

  async function submit(event: Event) {
    event.preventDefault()
    const trimmed = key.trim()
    if (!trimmed) return
    setBusy(true)
    session.signIn(trimmed)
    try {
      // The cheapest operator call: it tells a wrong key (401) and a key that may not operate (403) apart.
      await api.deadLetters({ offset: 0, limit: 1 })
      onSignedIn()
    } catch (error) {
      setBusy(false)
      onRefused({ kind: 'error', text: error instanceof Error ? error.message : String(error) })
    }
  }

  return (
    <main class="sign-in">
      <form class="card" onSubmit={submit}>
        <h1>Arrivals operator console</h1>
        <p class="muted">See your tenant's subscriptions, their deliveries and dead letters. The key stays in this browser tab only.</p>
        <label for="api-key">API key</label>
        <input
          id="api-key"
          ref={field}
          type="password"
          autoComplete="off"
          spellcheck={false}
          required
          value={key}
          onInput={(event) => setKey(event.currentTarget.value)}
        />
        <button type="submit" class="primary" disabled={busy}>Sign in</button>
        <NoticeLine notice={notice} />
      </form>
    </main>
  )
}
