import { errorResponsesFrom } from '@arrivals/service-kit'

/** Documented error responses of a route, each referring to ErrorBody. */
export const errorResponses = errorResponsesFrom({
  400: 'The request is invalid; the message names the field and the rule (for a callback URL: why it is refused).',
  401: 'Missing or invalid credentials (X-API-Key, or an Entra ID bearer token).',
  403: 'A maker\'s credentials: the operator API needs an operator\'s key (API_KEYS entry tenantId:key:operator) or the Arrivals.Operator app role.',
  404: 'Your tenant has no such resource.',
  409: 'The resource is in a state that does not allow this, or a quota of your tenant is full (code QUOTA_EXCEEDED, the message names the quota and its limit); the message says why.',
  503: 'Redis, RabbitMQ or the identity provider is unavailable; nothing was changed. Retry after Retry-After seconds.',
})
