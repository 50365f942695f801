import { Type, type Static } from '@sinclair/typebox'
import { StoreId, limits } from '@arrivals/contracts'

export const StoreParams = Type.Object({ storeId: StoreId }, { additionalProperties: false })
export type StoreParams = Static<typeof StoreParams>

const StoreName = Type.String({ minLength: 1, maxLength: limits.nameLength, description: 'Display name of the store (the connector\'s store dropdown shows it).' })

export const StoreBody = Type.Object({ name: StoreName }, { additionalProperties: false })
export type StoreBody = Static<typeof StoreBody>

/** The catalogue entry as the API shows it; the same shape as contracts' StoreRecord in Redis. */
export const Store = Type.Object({
  storeId: StoreId,
  name: Type.String({ maxLength: limits.nameLength }),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
}, { $id: 'Store' })

export const StoreList = Type.Object({
  items: Type.Array(Type.Ref(Store), { description: 'Every store of your tenant, ordered by storeId.' }),
})
