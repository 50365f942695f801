import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { CONNECTOR_TAG } from '../connector/definition.js'
import { errorResponses } from '../schemas/errors.js'
import { queryInteger, STORE_DROPDOWN_LIMIT, STORE_PAGE_MAX, StoreOptions, StoresQuery } from '../schemas/subscriptions.js'
import { storeList } from '../store-list.js'

/** The store dropdown of the connector's triggers: a page of the caller's stores, searchable. */
const stores: FastifyPluginAsyncTypebox<{ namespace: string }> = async (app, options) => {
  const list = storeList(app.redis, options.namespace)

  app.get('/v1/stores', {
    schema: {
      operationId: 'ListStores',
      tags: [CONNECTOR_TAG],
      summary: 'List stores',
      description: `Lists the stores of your catalogue a page at a time (default ${STORE_DROPDOWN_LIMIT}), ordered by ID, optionally only those whose ID or name contains the search text; for the store dropdown of the triggers.`,
      'x-ms-visibility': 'internal',
      querystring: StoresQuery,
      response: { 200: { ...StoreOptions, description: 'Your stores, ordered by ID.' }, ...errorResponses(400, 401, 429, 503) },
    },
  }, async (request) => {
    const { search, cursor } = request.query
    return list.page(request.tenantId, {
      ...(search ? { search } : {}),
      ...(cursor ? { after: cursor } : {}),
      limit: queryInteger(request.query.limit, STORE_DROPDOWN_LIMIT, 1, STORE_PAGE_MAX),
    })
  })
}

export default stores
