import { createRemoteJWKSet, errors, jwtVerify } from 'jose'
import { HttpError, ServiceUnavailableError, type Authenticator } from '@arrivals/service-kit'
import type { EntraSettings } from './settings.js'

const TENANT_ID = /^[A-Za-z0-9_-]{1,64}$/
/** The app role (the token's `roles` claim) that makes a signed-in user or app an operator. */
export const OPERATOR_APP_ROLE = 'Arrivals.Operator'

/** Why a token was refused, in words a connector author can act on (never the token itself). */
function refusal(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'the bearer token has expired; sign in again'
  if (error instanceof errors.JWTClaimValidationFailed) return `the bearer token's "${error.claim}" claim is not accepted (${error.reason === 'check_failed' ? 'wrong value' : error.reason})`
  if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWSSignatureVerificationFailed) return 'the bearer token is not signed by a key of the configured Entra ID tenant'
  return 'the bearer token is not a valid Entra ID access token'
}

/**
 * `Authorization: Bearer <token>` from Microsoft Entra ID: the signature is checked against the
 * tenant's published keys (JWKS, cached and refreshed by jose on an unknown key id), then the exact
 * issuer and audience, expiry and not-before. The Arrivals tenant is the token's `tid` claim; the
 * app role `Arrivals.Operator` in its `roles` claim makes the caller an operator, else a maker.
 */
export function entraIdAuthenticator(settings: EntraSettings): Authenticator {
  const keys = createRemoteJWKSet(new URL(settings.jwksUrl), { timeoutDuration: 5_000, cooldownDuration: 30_000 })
  return async (request) => {
    const header = request.headers.authorization
    if (header === undefined) return undefined
    const match = /^Bearer\s+(\S+)$/i.exec(header)
    if (!match) throw new HttpError(401, 'the Authorization header must be "Bearer <Entra ID access token>"', 'INVALID_TOKEN')
    let payload
    try {
      ({ payload } = await jwtVerify(match[1]!, keys, {
        issuer: settings.issuer,
        audience: settings.audience,
        algorithms: ['RS256', 'RS384', 'RS512', 'PS256', 'ES256'],
        clockTolerance: 60,
        requiredClaims: ['exp', 'tid'],
      }))
    } catch (error) {
      // The keys could not be fetched: our outage, not the caller's fault.
      if (error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid || !(error instanceof errors.JOSEError)) {
        request.log.warn({ err: { message: (error as Error).message } }, 'Entra ID signing keys unavailable')
        throw new ServiceUnavailableError('the Entra ID signing keys could not be fetched; retry shortly')
      }
      request.log.info({ reason: (error as { code?: string }).code }, 'bearer token refused')
      throw new HttpError(401, refusal(error), 'INVALID_TOKEN')
    }
    const tenantId = payload.tid
    if (typeof tenantId !== 'string' || !TENANT_ID.test(tenantId)) throw new HttpError(401, 'the bearer token\'s "tid" claim is not a tenant id', 'INVALID_TOKEN')
    const roles = Array.isArray(payload.roles) ? payload.roles : []
    return { tenantId, role: roles.includes(OPERATOR_APP_ROLE) ? 'operator' : 'maker' }
  }
}
