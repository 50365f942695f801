import AxeBuilder from '@axe-core/playwright'
import type { Page } from '@playwright/test'
import type { Tenant } from '@arrivals/e2e/harness'
import { waitFor } from '@arrivals/test-kit'
import { expect, test as world, type ConsoleWorld } from '../src/console-stack.js'

/**
 * Every test also checks what the browser got: no callback query string and no signing secret in
 * any response or in the page, and no console error (a Content-Security-Policy violation is one).
 */
const test = world.extend<{ guard: void }>({
  guard: [async ({ page, world }, use) => {
    const bodies: Promise<string>[] = []
    const errors: string[] = []
    page.on('response', (response) => { bodies.push(response.text().catch(() => '')) })
    page.on('console', (message) => { if (message.type() === 'error') errors.push(message.text()) })
    page.on('pageerror', (error) => errors.push(error.message))
    await use()
    const seen = [...(await Promise.all(bodies)), await page.content()]
    for (const secret of [...world.secrets(), 'api-version=', 'whsec_']) {
      expect(seen.filter((text) => text.includes(secret)), `"${secret.slice(0, 8)}…" reached the browser`).toEqual([])
    }
    expect(errors.filter((text) => !text.includes('the server responded with a status of 4'))).toEqual([])
  }, { auto: true }],
})
test.describe.configure({ mode: 'serial' })

async function signIn(page: Page, world: ConsoleWorld, tenant: Tenant = world.tenant) {
  await page.goto(`${world.url}/console/`)
  await page.getByLabel('API key').fill(tenant.apiKey)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await expect(page.getByRole('heading', { name: 'Subscriptions' })).toBeVisible()
}

const rowOf = (page: Page, text: string) => page.getByRole('row').filter({ hasText: text })

async function expectNoSeriousViolations(page: Page) {
  const results = await new AxeBuilder({ page }).analyze()
  const serious = results.violations.filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
  expect(serious.map((violation) => `${violation.id}: ${violation.nodes.map((node) => node.target.join(' ')).join(', ')}`)).toEqual([])
}

test('loads without a key under a strict CSP, and signs in with the keyboard alone', async ({ page, world }) => {
  const response = await page.goto(`${world.url}/console/`)
  expect(response?.status()).toBe(200)
  const csp = response?.headers()['content-security-policy'] ?? ''
  expect(csp).toContain("default-src 'self'")
  expect(csp).toContain("frame-ancestors 'none'")
  expect(csp).not.toContain('unsafe-inline')

  const field = page.getByLabel('API key')
  await expect(field).toBeFocused()
  await page.keyboard.type('not-a-key-of-anyone-at-all')
  await page.keyboard.press('Enter')
  await expect(page.getByText('This API key was not accepted')).toBeVisible()

  await field.fill('')
  await field.focus()
  await page.keyboard.type(world.tenant.apiKey)
  await page.keyboard.press('Enter')
  await expect(page.getByRole('heading', { name: 'Subscriptions' })).toBeVisible()
  expect(await page.evaluate('sessionStorage.length')).toBe(1)

  // A subscription opens from the keyboard, and the section links say which one is current.
  await page.getByRole('link', { name: world.flows.contoso.name }).focus()
  await page.keyboard.press('Enter')
  await expect(page.getByRole('heading', { name: world.flows.contoso.name })).toBeVisible()
  await expect(page.getByRole('link', { name: 'Subscriptions', exact: true })).toHaveAttribute('aria-current', 'page')
  await page.getByRole('button', { name: 'Sign out' }).click()
  await expect(page.getByLabel('API key')).toBeVisible()
  expect(await page.evaluate('sessionStorage.length')).toBe(0)
})

test('lists the subscriptions: event type, store, status, redacted callback, last attempt, 24 h chart; filters by store and status', async ({ page, world }) => {
  const { northwind, contoso, everyStore, paused } = world.flows
  await signIn(page, world)
  const northwindRow = rowOf(page, northwind.name)
  await expect(northwindRow).toContainText('inventory.goods-received.v1')
  await expect(northwindRow).toContainText('store-12')
  await expect(northwindRow).toContainText('Active')
  await expect(northwindRow).toContainText(`${world.receiver.url}${northwind.path}`)
  await expect(northwindRow).toContainText('gave-up')
  await expect(northwindRow.getByRole('img')).toHaveAttribute('aria-label', '0 delivered, 3 failed in the last 24 hours')
  await expect(rowOf(page, everyStore.name).getByRole('img')).toHaveAttribute('aria-label', '4 delivered, 0 failed in the last 24 hours')
  await expect(rowOf(page, everyStore.name)).toContainText('All stores')
  await expect(rowOf(page, paused.name)).toContainText('Disabled')
  await expect(rowOf(page, paused.name)).toContainText('None yet')
  await expect(page.getByText(/Showing 4 of 4 loaded\./)).toBeVisible()

  await page.getByLabel('Store').fill('store-7')
  await expect(page.getByRole('row')).toHaveCount(2)
  await expect(rowOf(page, contoso.name)).toBeVisible()
  await page.getByLabel('Store').fill('')
  await page.getByLabel('Status').selectOption('disabled')
  await expect(page.getByRole('row')).toHaveCount(2)
  await expect(rowOf(page, paused.name)).toBeVisible()
  await expectNoSeriousViolations(page)
})

test('pages through a tenant with more subscriptions than one page', async ({ page, world }) => {
  await signIn(page, world, world.large)
  await expect(page.getByText(/more to load/)).toBeVisible()
  const more = page.getByRole('button', { name: 'Load more' })
  while (await more.isVisible()) await more.click()
  await expect(page.getByText('Showing 150 of 150 loaded.')).toBeVisible()
  await expect(page.getByRole('row')).toHaveCount(151)
  await page.getByLabel('Store').fill('store-149')
  await expect(page.getByRole('row')).toHaveCount(2)
})

test('shows a subscription\'s attempts as a timeline with status and duration', async ({ page, world }) => {
  const { northwind } = world.flows
  await signIn(page, world)
  await page.getByRole('link', { name: northwind.name }).click()
  await expect(page.getByRole('heading', { name: northwind.name })).toBeVisible()
  await expect(page.getByText(northwind.subscriptionId)).toBeVisible()
  const timeline = page.getByRole('list', { name: 'Delivery attempts, newest first' }).getByRole('listitem')
  await expect(timeline).toHaveCount(3)
  await expect(timeline.first()).toContainText('gave-up')
  await expect(timeline.first()).toContainText('HTTP 500')
  await expect(timeline.first()).toContainText('attempt 3')
  await expect(timeline.first()).toContainText(/\d+(\.\d)? m?s/)
  await expect(timeline.last()).toContainText('retrying')
  await expectNoSeriousViolations(page)
})

test('replays a dead letter, and the webhook arrives at the receiver with its original webhook-id', async ({ page, world }) => {
  const { northwind } = world.flows
  const [deadLetter] = (await world.api<{ items: { id: string; deliveryId: string }[] }>(world.tenant, 'GET', `/v1/dead-letters?subscriptionId=${northwind.subscriptionId}`)).items
  world.failing.delete(northwind.path)
  const before = world.receiver.requests.length

  await signIn(page, world)
  await page.getByRole('link', { name: 'Dead letters' }).click()
  await expect(page.getByRole('heading', { name: 'Dead letters' })).toBeVisible()
  const row = rowOf(page, northwind.subscriptionId)
  await expect(row).toContainText('endpoint')
  await expect(row).toContainText('500')
  await expect(row.getByRole('cell').nth(5)).toHaveText('3')
  await expect(row.getByRole('cell').nth(3)).not.toBeEmpty()
  await expectNoSeriousViolations(page)

  await row.getByRole('button', { name: 'Replay' }).click()
  await expect(page.getByText(`Replayed: queued again with webhook-id ${deadLetter!.deliveryId}.`)).toBeVisible()
  const arrived = await waitFor(() => world.receiver.requests.slice(before).find((request) => request.path.startsWith(northwind.path)),
    { what: 'the replayed webhook', timeoutMs: 15_000 })
  expect(arrived.headers['webhook-id']).toBe(deadLetter!.deliveryId)
  expect(JSON.parse(arrived.body)).toMatchObject({ storeId: 'store-12', eventType: 'inventory.goods-received.v1' })
  await expect(page.getByText('No dead letters')).toBeVisible()
})

test('deletes a dead letter after asking', async ({ page, world }) => {
  const { northwind } = world.flows
  world.failing.add(northwind.path)
  await world.api(world.tenant, 'POST', `/v1/subscriptions/${northwind.subscriptionId}/test`)
  await waitFor(async () => (await world.api<{ items: unknown[] }>(world.tenant, 'GET', '/v1/dead-letters')).items.length === 1,
    { what: 'a second dead letter', timeoutMs: 20_000 })
  world.failing.delete(northwind.path)

  await signIn(page, world)
  await page.getByRole('link', { name: 'Dead letters' }).click()
  const row = rowOf(page, northwind.subscriptionId)
  page.once('dialog', (dialog) => void dialog.dismiss())
  await row.getByRole('button', { name: 'Delete' }).click()
  await expect(row).toBeVisible()
  page.once('dialog', (dialog) => void dialog.accept())
  await row.getByRole('button', { name: 'Delete' }).click()
  await expect(page.getByText(/^Deleted dead letter /)).toBeVisible()
  await expect(page.getByText('No dead letters')).toBeVisible()
  expect((await world.api<{ items: unknown[] }>(world.tenant, 'GET', '/v1/dead-letters')).items).toEqual([])
})

test('sends a test notification that arrives at the receiver', async ({ page, world }) => {
  const { contoso } = world.flows
  const before = world.receiver.requests.length
  await signIn(page, world)
  await page.getByRole('link', { name: contoso.name }).click()
  await page.getByRole('button', { name: 'Send test' }).click()
  const notice = page.getByText(/^Test notification queued \(webhook-id msg_/)
  await expect(notice).toBeVisible()
  const webhookId = /webhook-id (msg_[^)]+)\)/.exec(await notice.innerText())![1]!
  const arrived = await waitFor(() => world.receiver.requests.slice(before).find((request) => request.headers['webhook-id'] === webhookId),
    { what: 'the test notification', timeoutMs: 15_000 })
  expect(arrived.path.startsWith(contoso.path)).toBe(true)
  // The attempt shows up in the timeline once the dispatcher recorded it.
  await expect(async () => {
    await page.reload()
    await expect(page.getByText(webhookId).first()).toBeVisible({ timeout: 1_000 })
  }).toPass({ timeout: 15_000 })
})

test('disables and enables a subscription', async ({ page, world }) => {
  const { contoso } = world.flows
  await signIn(page, world)
  await page.getByRole('link', { name: contoso.name }).click()
  await page.getByRole('button', { name: 'Disable' }).click()
  await expect(page.getByText('Subscription disabled')).toBeVisible()
  await expect(page.getByRole('button', { name: 'Send test' })).toBeDisabled()
  await expect(page.getByText('disabled by an operator')).toBeVisible()
  expect((await world.api<{ status: string }>(world.tenant, 'GET', `/v1/subscriptions/${contoso.subscriptionId}`)).status).toBe('disabled')

  await page.getByRole('button', { name: 'Enable' }).click()
  await expect(page.getByText('Subscription enabled.')).toBeVisible()
  await expect(page.getByRole('button', { name: 'Send test' })).toBeEnabled()
  expect((await world.api<{ status: string }>(world.tenant, 'GET', `/v1/subscriptions/${contoso.subscriptionId}`)).status).toBe('active')
})

test('redelivers since a time from the form', async ({ page, world }) => {
  const { everyStore } = world.flows
  await signIn(page, world)
  await page.getByRole('link', { name: everyStore.name }).click()
  await page.getByLabel('Redeliver since').fill('2026-01-01T00:00')
  await page.getByRole('button', { name: 'Redeliver' }).click()
  await expect(page.getByText('No dead letters of this subscription since then.')).toBeVisible()
})

test('works at a phone\'s width: no sideways scrolling, no serious axe violation', async ({ page, world }) => {
  await page.setViewportSize({ width: 390, height: 844 })
  await signIn(page, world)
  const fits = () => page.evaluate('document.documentElement.scrollWidth <= window.innerWidth')
  expect(await fits()).toBe(true)
  await expectNoSeriousViolations(page)
  await page.getByRole('link', { name: world.flows.northwind.name }).click()
  await expect(page.getByRole('heading', { name: world.flows.northwind.name })).toBeVisible()
  expect(await fits()).toBe(true)
  await expectNoSeriousViolations(page)
})

test('the sign-in page has no serious axe violation', async ({ page, world }) => {
  await page.goto(`${world.url}/console/`)
  await expectNoSeriousViolations(page)
})

// A maker's key of the tenant (API_KEYS entry tenantId:key): the API answers 403 and the console
// must say what to do, and sign out.
test('a key that may not operate (403) gets the "cannot operate" message', async ({ page, world }) => {
  await page.goto(`${world.url}/console/`)
  await page.getByLabel('API key').fill(world.tenant.makerKey)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await expect(page.getByText('This key cannot operate: sign in with an operator\'s key.')).toBeVisible()
  await expect(page.getByLabel('API key')).toBeVisible()
  expect(await page.evaluate('sessionStorage.length')).toBe(0)
})
