import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { MAX_CALLBACK_LENGTH } from '@arrivals/callback-safety'
import {
  catalogue, eventTypes, FLOW_RATE_PATTERN, limits, StoreId, UNLIMITED_FLOW_RATE, type CatalogueEntry, type FilterDefinition, type SubscriptionFilters,
} from '@arrivals/contracts'

/**
 * A whole number in a query string. Types are not coerced (a body's "5" is not a quantity), so a
 * query number is a digit string; the route clamps it to its range.
 */
export const QueryInteger = (description: string) => Type.String({ pattern: '^[0-9]{1,6}$', description })

/** Stores in the connector's dropdown: a list people scroll, not a catalogue (type an ID past it). */
export const STORE_DROPDOWN_LIMIT = 100
/** The largest page of the store list. */
export const STORE_PAGE_MAX = 500

/** Clamps a QueryInteger to [min, max], or the fallback when absent. */
export function queryInteger(text: string | undefined, fallback: number, min: number, max: number): number {
  return text === undefined ? fallback : Math.min(max, Math.max(min, Number(text)))
}

/** Label and help text of a field in the Power Automate designer. */
const field = (summary: string, description: string) => ({ 'x-ms-summary': summary, description })

export const SubscriptionId = Type.String({
  pattern: '^sub_[A-Za-z0-9_-]{1,64}$',
  ...field('Subscription ID', 'The subscription\'s identifier (sub_…).'),
})

export const SubscriptionParams = Type.Object({ subscriptionId: SubscriptionId }, { additionalProperties: false })
export type SubscriptionParams = Static<typeof SubscriptionParams>

/**
 * The store dropdown: the tenant's stores, from the connector's ListStores operation. It shows
 * ListStores' first page (ordered by ID, STORE_DROPDOWN_LIMIT by default); a store past it is typed
 * in as a custom value.
 */
const storeDropdown = { operationId: 'ListStores', 'value-collection': 'items', 'value-path': 'storeId', 'value-title': 'name' }

/** A trigger's filter parameter, from its catalogue definition: constraints, label, visibility, dropdown. */
function filterParameter(filter: FilterDefinition): TSchema {
  const options = {
    ...filter.constraints,
    'x-ms-visibility': filter.visibility,
    ...(filter.dropdown === 'stores' ? { 'x-ms-dynamic-values': storeDropdown } : {}),
    ...field(filter.summary, filter.description),
  }
  return Type.Optional(filter.type === 'integer' ? Type.Integer(options) : Type.String(options))
}

/**
 * What the platform POSTs when a flow with the trigger is saved: its callback URL in the property
 * marked x-ms-notification-url (hidden from the maker), and the filters the maker set, one property
 * per filter of the catalogue entry.
 */
export function triggerBody(entry: CatalogueEntry) {
  return Type.Object({
    callbackUrl: Type.String({
      minLength: 1,
      maxLength: MAX_CALLBACK_LENGTH,
      'x-ms-notification-url': true,
      'x-ms-visibility': 'internal',
      ...field('Callback URL', 'Where notifications are sent; the platform fills it in.'),
    }),
    ...Object.fromEntries(entry.filters.map((filter) => [filter.name, filterParameter(filter)])),
    ordered: Type.Optional(Type.Boolean({
      'x-ms-visibility': 'advanced',
      ...field('Deliver in order per store', 'Yes: the notifications of one store arrive in the order their events happened, and one that is being retried holds back the later ones of its store (other stores go on). No (the default): each goes as soon as it can.'),
    })),
  }, { additionalProperties: false, description: 'The callback URL, the filters of the trigger and how it is delivered.' })
}

/** A trigger's body as the routes read it: the filters are the catalogue entry's (validated by its schema). */
export type TriggerBody = { callbackUrl: string; ordered?: boolean } & SubscriptionFilters

// Every filter of every catalogue entry, once (the store and SKU are shared); typed as the record's.
const Filters = Type.Unsafe<SubscriptionFilters>(Type.Object(
  Object.fromEntries([...new Map(catalogue.flatMap((entry) => entry.filters.map((filter) => [filter.name, filter] as const))).values()]
    .map((filter) => {
      const description = `The trigger's "${filter.summary}" filter.`
      return [filter.name, Type.Optional(filter.type === 'integer' ? Type.Integer({ description }) : Type.String({ description }))]
    })),
  { description: 'Filters (those of the subscription\'s event type); an absent one matches everything.' },
))

const Flow = Type.Object({
  workflowId: Type.Optional(Type.String({ description: 'x-ms-workflow-id of the subscribing flow.' })),
  workflowName: Type.Optional(Type.String({ description: 'x-ms-workflow-name of the subscribing flow.' })),
  environmentId: Type.Optional(Type.String({ description: 'x-ms-environment-id (Power Automate).' })),
  platform: Type.Optional(Type.String({ description: 'power-automate, logic-apps or api, as far as the headers tell.' })),
}, { description: 'Which flow owns the subscription.' })

const HourlyCounts = (description: string) => Type.Array(Type.Integer({ minimum: 0 }), { minItems: 24, maxItems: 24, description })

/** The list's summary of recent deliveries (the view's sparkline and "last attempt"). */
export const SubscriptionActivity = Type.Object({
  lastAttempt: Type.Optional(Type.Object({
    at: Type.String({ format: 'date-time', description: 'When it was made.' }),
    outcome: Type.String({ description: 'delivered, retrying, gave-up, gone, circuit-open or skipped.' }),
    status: Type.Union([Type.Integer(), Type.Null()], { description: 'The receiver\'s HTTP status, if it answered.' }),
    durationMs: Type.Number({ description: 'How long it took.' }),
  }, { description: 'The most recent delivery attempt.' })),
  delivered: HourlyCounts('Delivered attempts per hour over the last 24 hours, oldest first (from the newest 100 attempts kept).'),
  failed: HourlyCounts('Every other attempt per hour over the last 24 hours, oldest first.'),
}, { description: 'Recent delivery activity.' })
export type SubscriptionActivity = Static<typeof SubscriptionActivity>

/** A subscription as the API shows it: the callback redacted, no secret. */
export const Subscription = Type.Object({
  id: SubscriptionId,
  eventType: Type.String({ description: `The event type it receives, that of the trigger it was made with: ${eventTypes.join(' or ')}.` }),
  status: Type.String({ enum: ['active', 'disabled'], description: 'Disabled after sustained delivery failure; re-subscribe or enable to resume.' }),
  disabledReason: Type.Optional(Type.String({ description: 'Why it was disabled.' })),
  disabledAt: Type.Optional(Type.String({ format: 'date-time', description: 'When it was disabled.' })),
  callback: Type.String({ description: 'The callback URL without its query string (scheme, host and path).' }),
  filters: Filters,
  ordered: Type.Boolean({ description: 'Whether the notifications of one store are delivered in the order their events happened.' }),
  flowRateLimit: Type.Optional(Type.String({ description: `The operator's override of the deployment's flow rate (FLOW_RATE_LIMIT) for this subscription: <count>/<duration> or ${UNLIMITED_FLOW_RATE}; absent: the deployment's.` })),
  flow: Flow,
  createdAt: Type.String({ format: 'date-time', description: 'When it was created.' }),
  updatedAt: Type.String({ format: 'date-time', description: 'When it last changed.' }),
}, { $id: 'Subscription', title: 'Subscription', description: 'A webhook subscription of your tenant.' })
export type Subscription = Static<typeof Subscription>

/** The subscribe answer: the subscription, and its signing secret when this request created it. */
export const SubscriptionCreated = Type.Object({
  ...Subscription.properties,
  signingSecret: Type.Optional(Type.String({ description: 'Standard Webhooks secret (whsec_…) that signs every notification. Shown once, when the subscription is created; rotate it to get a new one.' })),
}, { $id: 'SubscriptionCreated', title: 'Subscription created', description: 'The subscription; the signing secret only when it was created by this request.' })

/** A listed subscription: the subscription and its recent activity (the connector's schemas stay as they are). */
export const ListedSubscription = Type.Object({
  ...Subscription.properties,
  activity: SubscriptionActivity,
}, { $id: 'ListedSubscription', title: 'Listed subscription', description: 'A subscription with its recent delivery activity.' })
export type ListedSubscription = Static<typeof ListedSubscription>

export const SubscriptionList = Type.Object({
  items: Type.Array(Type.Ref(ListedSubscription), { description: 'A page of your subscriptions (in no particular order).' }),
  nextCursor: Type.Optional(Type.String({ description: 'Pass as cursor for the next page; absent on the last one.' })),
}, { description: 'A page of subscriptions.' })

export const ListQuery = Type.Object({
  cursor: Type.Optional(Type.String({ pattern: '^[0-9]{1,20}$', description: 'From the previous page\'s nextCursor.' })),
  limit: Type.Optional(QueryInteger('About how many to return: 1 to 500 (default 100).')),
}, { additionalProperties: false })

export const FlowRateOverride = Type.Object({
  flowRateLimit: Type.String({
    pattern: FLOW_RATE_PATTERN,
    description: `At most this many notifications in any window of this length: <count>/<duration> with a unit ms, s, m or h (e.g. 45000/5m for a flow on a higher Power Automate plan), or ${UNLIMITED_FLOW_RATE} for a receiver that is not a flow.`,
  }),
}, { additionalProperties: false, description: 'The flow rate of this subscription.' })

export const SecretRotated = Type.Object({
  id: SubscriptionId,
  signingSecret: Type.String({ description: 'The new Standard Webhooks secret (whsec_…), shown this once; it signs every notification from now on.' }),
}, { description: 'The new signing secret.' })

export const StoreOption = Type.Object({
  storeId: Type.String({ ...field('Store ID', 'The store identifier.') }),
  name: Type.String({ ...field('Store name', 'The store\'s display name.') }),
}, { description: 'A store of your catalogue.' })

export const StoreOptions = Type.Object({
  items: Type.Array(StoreOption, { ...field('Stores', 'One page of the stores of your catalogue that match the search, ordered by ID.') }),
  nextCursor: Type.Optional(Type.String({ ...field('Next cursor', 'Pass back as cursor for the next page; absent on the last page.'), 'x-ms-visibility': 'internal' })),
}, { description: 'Your stores, a page at a time.' })

export const StoresQuery = Type.Object({
  search: Type.Optional(Type.String({
    maxLength: limits.idLength,
    ...field('Search', 'Only stores whose ID or name contains this text (letters A to Z in any case).'),
  })),
  limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,6}$', ...field('Limit', `How many to return: 1 to ${STORE_PAGE_MAX} (default ${STORE_DROPDOWN_LIMIT}).`) })),
  cursor: Type.Optional(Type.String({ pattern: StoreId.pattern, ...field('Cursor', 'From the previous page\'s nextCursor.'), 'x-ms-visibility': 'internal' })),
}, { additionalProperties: false })
