import type { AttemptRecord, DeadLetterClass, DeadLetterRecord, ArrivalsEvent, CatalogueEntry, DeliveryTask, SubscriptionRecord } from '@arrivals/contracts'
import type { KeyObject } from 'node:crypto'
import type { BaseLogger } from 'pino'
import type { BudgetGrant, BudgetRequest } from '@arrivals/subscription-registry'
import type { BrokerMessage } from './messages.js'
import type { SendResult } from './policies/retry-policy.js'

// The narrow interfaces the stages need, each with the one adapter that implements it named beside it.
// The stages import these, never an adapter, so the unit tests fake them and an adapter can be
// swapped (the shared messaging package) without touching a stage. The Redis adapters are thin layers over
// @arrivals/subscription-registry, the one module that knows the subscription layout and its scripts.

/** The structured logger the pipeline writes to (pino's and fastify's): fields first, then the message. */
export type Log = Pick<BaseLogger, 'debug' | 'info' | 'warn' | 'error'>

/** The fields of a subscription record the dispatcher needs (the rest is not kept: a tenant may have 100,000). */
export type SubscriptionView = Pick<SubscriptionRecord, 'id' | 'tenantId' | 'eventType' | 'callbackRedacted' | 'filters' | 'status' | 'disabledReason' | 'ordered' | 'flowRateLimit'>

/** A subscription as the dispatcher holds it: the record, and its secrets opened only when first needed. */
export interface Subscription {
  record: SubscriptionView
  /** The callback URL (opened on first use, then kept in memory). */
  callbackUrl(): string
  /** The HMAC key from the `whsec_` secret (opened on first use). */
  signingKey(): KeyObject
}

/** Fan-out: the tenant's active subscriptions an event matches (adapters/redis/subscription-cache.ts). */
export interface SubscriptionMatcher {
  match(tenantId: string, event: ArrivalsEvent, entry: CatalogueEntry): Promise<Subscription[]>
}

/** Deliver: one subscription, and what this process knows was answered 410 (adapters/redis/subscription-cache.ts). */
export interface SubscriptionLookup {
  find(tenantId: string, subscriptionId: string): Promise<Subscription | undefined>
  /** Answered 410 Gone in this process: never sent to again, even by attempts already past `find`. */
  isGone(subscriptionId: string): boolean
  markGone(subscriptionId: string): void
}

/** Fan-out: publishes a new delivery task, resolving once the broker confirmed (adapters/task-queue.ts). */
export interface TaskPublisher {
  publishTask(task: DeliveryTask): Promise<void>
}

/** Why a task goes round a retry tier (the `reason` label of dispatcher_retries_total). */
export type WaitReason = 'retry' | 'circuit-open' | 'endpoint-busy' | 'not-yet' | HoldReason

/** Why a delivery is held back without spending an attempt (the `reason` label of dispatcher_held_total). */
export type HoldReason = 'ordered' | 'flow-rate' | 'paused'

/** Deliver: sends a task round a retry tier so it comes back in `delayMs`; resolves to when it is due (adapters/task-queue.ts). */
export interface RetryScheduler {
  schedule(task: DeliveryTask, delayMs: number, reason: WaitReason, held?: boolean): Promise<Date>
}

/** Both stages: the archive of what could not be delivered, replayable (adapters/task-queue.ts). */
export interface DeadLetters {
  /** Class `endpoint` when the endpoint gave up, `pipeline` when Arrivals could not send it; `attempts` made. */
  deadLetterTask(task: DeliveryTask, reason: string, cls?: DeadLetterClass, attempts?: number): Promise<void>
  /** A message Arrivals could not read: its original body, with the reason. */
  deadLetterMessage(message: BrokerMessage, reason: string): Promise<void>
}

/** Deliver: the attempt history, best effort and never awaited on the hot path (adapters/redis/attempt-log.ts). */
export interface AttemptRecorder {
  record(tenantId: string, subscriptionId: string, attempt: AttemptRecord): void
  /** The subscription answered: its consecutive-failure count starts again. */
  succeeded(tenantId: string, subscriptionId: string): void
}

export interface FailureCount {
  count: number
  sinceMs: number
}

/** Deliver: the only changes the dispatcher makes to subscriptions (adapters/redis/subscription-changes.ts). */
export interface SubscriptionChanger {
  /** Counts one more consecutive failure; returns the count and when the streak started. */
  recordFailure(tenantId: string, subscriptionId: string, now?: number): Promise<FailureCount>
  /** Disables the subscription with a reason (and ends its streak); false when it was changed or removed meanwhile. */
  disable(tenantId: string, subscriptionId: string, reason: string): Promise<boolean>
  /** Removes the subscription with its attempt history and streak (410 Gone); false when it was already gone. */
  remove(tenantId: string, subscriptionId: string): Promise<boolean>
}

export interface WebhookRequest {
  url: string
  headers: Record<string, string>
  body: string
  /** Aborts the request early (shutdown); the timeout applies regardless. */
  signal?: AbortSignal
}

/** Deliver: the signed request, then the POST (adapters/signing.ts, adapters/sender.ts). */
export interface WebhookSender {
  /** The signed request for this attempt; throws when the subscription's secrets cannot be opened. */
  sign(task: DeliveryTask, subscription: Subscription): WebhookRequest
  send(request: WebhookRequest): Promise<SendResult>
}

/** Archive stage: writes one dead letter's record (the registry's `deadLetters`, as it is). */
export interface DeadLetterArchive {
  archive(record: DeadLetterRecord, now: Date): Promise<void>
  /** Keeps a dead letter that could not be archived as it was in the operators' list of pipeline dead letters. */
  park(record: DeadLetterRecord): Promise<void>
}

/**
 * Runs a Redis operation, waiting out a Redis outage while the message is held (the prefetch is the
 * backpressure): infrastructure retries in milliseconds, apart from delivery retries (runtime/redis-outage.ts).
 */
export type WaitOutRedisOutage = <T>(operation: () => Promise<T>) => Promise<T>

/** An ordered subscription's event delivery: the store it keeps in order (contracts' DeliveryTask.orderKey). */
export type OrderedTask = DeliveryTask & { orderKey: string }

/**
 * Ordered delivery: a queue per (subscription, store) shared by every replica, whose head is the one
 * delivery being made (the registry's `createOrderAndPace().order`, as it is).
 */
export interface OrderQueue {
  enqueue(task: OrderedTask): Promise<{ position: 'head' | 'queued'; length: number }>
  position(task: OrderedTask): Promise<'head' | 'queued' | 'absent'>
  release(task: OrderedTask, publish: (next: DeliveryTask) => Promise<void>): Promise<void>
}

/** The flow rate shared by every replica: reservations of budget and receivers' pauses (the registry's `createOrderAndPace().budgets`). */
export interface FlowBudgetStore {
  reserve(tenantId: string, subscriptionId: string, request: BudgetRequest, nowMs?: number): Promise<BudgetGrant>
  pause(tenantId: string, subscriptionId: string, untilMs: number, nowMs?: number): Promise<void>
}
