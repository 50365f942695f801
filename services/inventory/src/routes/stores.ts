import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { HttpError } from '@arrivals/service-kit'
import { errorResponses } from '../schemas/errors.js'
import { Store, StoreBody, StoreList, StoreParams } from '../schemas/stores.js'

const storeRef = Type.Ref(Store)

/** The caller's store catalogue: list, look up, register or rename. */
const stores: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/v1/stores', {
    schema: {
      operationId: 'listStores',
      tags: ['stores'],
      summary: 'List your stores',
      response: { 200: StoreList, ...errorResponses(401, 429, 503) },
    },
  }, async (request) => ({ items: await app.stores.list(request.tenantId) }))

  app.get('/v1/stores/:storeId', {
    schema: {
      operationId: 'getStore',
      tags: ['stores'],
      summary: 'Get one of your stores',
      params: StoreParams,
      response: { 200: storeRef, ...errorResponses(400, 401, 404, 429, 503) },
    },
  }, async (request) => {
    const store = await app.stores.get(request.tenantId, request.params.storeId)
    if (!store) throw new HttpError(404, `your tenant has no store "${request.params.storeId}"; register it with PUT /v1/stores/${request.params.storeId}`, 'STORE_NOT_FOUND')
    return store
  })

  app.put('/v1/stores/:storeId', {
    schema: {
      operationId: 'putStore',
      tags: ['stores'],
      summary: 'Register a store or rename it',
      params: StoreParams,
      body: StoreBody,
      response: {
        200: { ...storeRef, description: 'Renamed (or unchanged).' },
        201: { ...storeRef, description: 'Registered.' },
        ...errorResponses(400, 401, 409, 413, 415, 429, 503),
      },
    },
  }, async (request, reply) => {
    const { store, created } = await app.stores.put(request.tenantId, request.params.storeId, request.body.name)
    return reply.code(created ? 201 : 200).send(store)
  })
}

export default stores
