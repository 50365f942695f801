// The delivery pipeline's public surface: what the app, the tests and the benchmark build on.
export { createDispatcher, type Dispatcher, type DispatcherOptions, type ConsumerName } from './dispatcher.js'
export { decide, jittered, parseRetryAfter, retryTiers, tierFor, JITTER, type Decision, type RetryPolicy, type SendResult } from './retry-policy.js'
export { signWebhook, signingKey } from './signing.js'
export { toDeadLetterRecord } from './dead-letter-archiver.js'
export { CircuitBreakers } from './circuit-breaker.js'
export { NOT_BEFORE_HEADER } from './task-queue.js'
