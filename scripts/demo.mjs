#!/usr/bin/env node
// pnpm demo: on a running stack (docker compose up, or pnpm start), does what Power Automate does
// when a maker saves a flow with each of the connector's triggers ("When goods are received at a
// store", "When stock is adjusted at a store"), then what a store system does when goods arrive and
// when stock is written off, and shows each notification exactly as its flow receives it.
//
//   SUBSCRIPTIONS_URL   the connector API            (default http://localhost:3002)
//   INVENTORY_URL       the inventory service        (default http://localhost:3001)
//   ARRIVALS_API_KEY    a tenant's API key           (default: the compose file's demo key)
//   DEMO_CALLBACK_HOST  how the dispatcher reaches this machine (default 127.0.0.1; with compose
//                       on Docker Desktop: host.docker.internal)
import { randomBytes, randomUUID } from 'node:crypto'
import { createServer } from 'node:http'
import { Webhook } from 'standardwebhooks'
import { readConnectorDefinition } from '../test/e2e/src/connector-definition.ts'

const subscriptionsUrl = (process.env.SUBSCRIPTIONS_URL ?? 'http://localhost:3002').replace(/\/$/, '')
const inventoryUrl = (process.env.INVENTORY_URL ?? 'http://localhost:3001').replace(/\/$/, '')
const apiKey = process.env.ARRIVALS_API_KEY ?? 'demo-key-0123456789abcdef'
const callbackHost = process.env.DEMO_CALLBACK_HOST ?? '127.0.0.1'
const storeId = 'demo-store'

const bold = (text) => (process.stdout.isTTY ? `\x1b[1m${text}\x1b[0m` : text)
const step = (text) => console.log(`\n${bold(`▸ ${text}`)}`)

async function call(method, url, body, headers = {}) {
  const response = await fetch(url, {
    method,
    headers: { 'x-api-key': apiKey, ...(body ? { 'content-type': 'application/json' } : {}), ...headers },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(15_000),
  }).catch((error) => {
    throw new Error(`${method} ${url} failed (${error.cause?.code ?? error.message}): is the stack running? (docker compose up, or pnpm start)`)
  })
  const text = await response.text()
  return { status: response.status, headers: response.headers, text, json: text ? safeJson(text) : undefined }
}

function safeJson(text) {
  try { return JSON.parse(text) } catch { return undefined }
}

function findSecret(node) {
  if (typeof node === 'string') return node.startsWith('whsec_') ? node : undefined
  if (node && typeof node === 'object') for (const value of Object.values(node)) { const found = findSecret(value); if (found) return found }
  return undefined
}

// 1. The flows' callback endpoint: what Power Automate hosts at prod-NN.<region>.logic.azure.com.
// Each flow has its own workflow path; the first notification of each is kept.
const waiting = new Map()
const receiver = createServer((request, response) => {
  const chunks = []
  request.on('data', (chunk) => chunks.push(chunk))
  request.on('end', () => {
    const workflowId = /^\/workflows\/([^/]+)\//.exec(request.url)?.[1]
    waiting.get(workflowId)?.({ url: request.url, headers: request.headers, body: Buffer.concat(chunks).toString('utf8') })
    response.writeHead(202).end()
  })
})
await new Promise((resolve) => receiver.listen(0, callbackHost === '127.0.0.1' ? '127.0.0.1' : '0.0.0.0', resolve))

/** A new flow's callback URL (with a SAS-like sig) and the promise of its first notification. */
function newFlow(name) {
  const sig = randomBytes(24).toString('base64url')
  const workflowId = randomUUID().replaceAll('-', '')
  const notification = new Promise((resolve) => waiting.set(workflowId, resolve))
  const callbackUrl = `http://${callbackHost}:${receiver.address().port}/workflows/${workflowId}/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=${sig}`
  return { name, sig, workflowId, notification, callbackUrl, location: undefined, secret: undefined }
}

async function saveFlow(flow, trigger, filters) {
  step(`Save a flow "${trigger.summary}" (${Object.entries(filters).map(([k, v]) => `${k}=${v}`).join(', ')}): POST ${trigger.path}`)
  const subscribe = await call('POST', `${subscriptionsUrl}${trigger.path}`,
    { [trigger.notificationProperty]: flow.callbackUrl, ...filters },
    { 'x-ms-workflow-id': flow.workflowId, 'x-ms-workflow-name': flow.name, 'x-ms-trigger-type': 'OpenApiConnectionWebhook' })
  if (subscribe.status !== 201) throw new Error(`the trigger answered ${subscribe.status}: ${subscribe.text}`)
  flow.location = subscribe.headers.get('location')
  flow.secret = findSecret(subscribe.json)
  console.log(`  201 Created, Location: ${flow.location}`)
  console.log(`  signing secret (shown once): ${flow.secret ? `${flow.secret.slice(0, 10)}…` : 'none!'}`)
}

async function showNotification(flow) {
  step(`The flow "${flow.name}" is notified`)
  let timer
  const received = await Promise.race([
    flow.notification,
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('no notification within 30 s: is the dispatcher running, and can it reach DEMO_CALLBACK_HOST?')), 30_000) }),
  ]).finally(() => clearTimeout(timer))
  for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) console.log(`  ${name}: ${received.headers[name]}`)
  console.log(JSON.stringify(JSON.parse(received.body), null, 2).replace(/^/gm, '  '))
  if (new URL(received.url, 'http://x').searchParams.get('sig') !== flow.sig) throw new Error('the notification came to a callback URL without our sig')
  new Webhook(flow.secret).verify(received.body, {
    'webhook-id': received.headers['webhook-id'],
    'webhook-timestamp': received.headers['webhook-timestamp'],
    'webhook-signature': received.headers['webhook-signature'],
  })
  console.log(`  ${bold('signature verified')} with the subscription's secret (Standard Webhooks, standardwebhooks library)`)
  return JSON.parse(received.body)
}

const arrivals = newFlow('Arrivals demo: goods received')
const writeOffs = newFlow('Arrivals demo: stock written off')
let exitCode = 0
try {
  step(`Import the connector: GET ${subscriptionsUrl}/connector/apiDefinition.swagger.json`)
  const definition = await call('GET', `${subscriptionsUrl}/connector/apiDefinition.swagger.json`)
  if (definition.status !== 200) throw new Error(`the connector definition answered ${definition.status}`)
  const connector = readConnectorDefinition(definition.json)
  for (const trigger of connector.triggers) {
    console.log(`  trigger "${trigger.summary}" (${trigger.operationId}) at POST ${trigger.path}; callback goes in "${trigger.notificationProperty}"; filters: ${trigger.filterProperties.join(', ')}`)
  }

  await saveFlow(arrivals, connector.trigger('When goods are received at a store'), { storeId })
  await saveFlow(writeOffs, connector.trigger('When stock is adjusted at a store'), { storeId, reason: 'damaged' })

  step(`Goods arrive: POST ${inventoryUrl}/v1/stores/${storeId}/receipts`)
  const receipt = await call('POST', `${inventoryUrl}/v1/stores/${storeId}/receipts`, {
    receiptId: `demo-${randomBytes(4).toString('hex')}`,
    supplier: 'Northwind Traders',
    receivedAt: new Date().toISOString(),
    items: [
      { sku: 'OAT-1L', name: 'Oat milk 1 l', quantity: 24, unit: 'case' },
      { sku: 'COFFEE-1KG', name: 'Coffee beans 1 kg', quantity: 6, unit: 'bag' },
    ],
  }, { 'idempotency-key': randomUUID() })
  if (receipt.status !== 202) throw new Error(`inventory answered ${receipt.status}: ${receipt.text}`)
  console.log(`  202 Accepted ${receipt.text}`)

  step(`A damaged case is written off: POST ${inventoryUrl}/v1/stores/${storeId}/adjustments`)
  const adjustment = await call('POST', `${inventoryUrl}/v1/stores/${storeId}/adjustments`, {
    reason: 'damaged',
    note: 'Dropped at the dock',
    items: [{ sku: 'OAT-1L', name: 'Oat milk 1 l', quantityDelta: -1, unit: 'case' }],
  }, { 'idempotency-key': randomUUID() })
  if (adjustment.status !== 202) throw new Error(`inventory answered ${adjustment.status}: ${adjustment.text}`)
  console.log(`  202 Accepted ${adjustment.text}`)

  const received = await showNotification(arrivals)
  const adjusted = await showNotification(writeOffs)
  // Each flow receives only its own trigger's event type.
  if (received.eventId !== receipt.json.eventId) throw new Error('the goods-received flow got something other than the receipt')
  if (adjusted.eventId !== adjustment.json.eventId) throw new Error('the stock-adjusted flow got something other than the adjustment')
} catch (error) {
  exitCode = 1
  console.error(`\ndemo failed: ${error.message}`)
} finally {
  for (const flow of [arrivals, writeOffs]) {
    if (!flow.location) continue
    step(`Delete the flow "${flow.name}": DELETE ${flow.location}`)
    const removed = await call('DELETE', flow.location).catch((error) => ({ status: error.message }))
    console.log(`  ${removed.status}`)
  }
  receiver.closeAllConnections()
  receiver.close()
}
process.exitCode = exitCode
