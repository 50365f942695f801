import { errorResponsesFrom } from '@arrivals/service-kit'

/** The error responses a route can give, each documented in the OpenAPI document. */
export const errorResponses = errorResponsesFrom({
  400: 'The request is invalid; the message names the field and the rule.',
  401: 'Missing or invalid X-API-Key.',
  404: 'Not found in your tenant.',
  409: 'A request with this Idempotency-Key is still in progress (retry after Retry-After seconds), or the store is new and your tenant\'s stores quota is full (code QUOTA_EXCEEDED, the message names the quota and its limit).',
  413: 'The body is larger than 1 MB.',
  422: 'This Idempotency-Key was used with a different request.',
  503: 'RabbitMQ or Redis is unavailable or did not confirm in time. Retry after Retry-After seconds with the same Idempotency-Key: a receipt whose confirm was lost may have been published, and the key makes the retry the same event.',
})
