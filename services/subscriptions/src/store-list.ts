import type { Redis } from 'ioredis'
import { inventoryKeys, type StoreRecord } from '@arrivals/contracts'

export interface StorePage {
  items: Array<Pick<StoreRecord, 'storeId' | 'name'>>
  /** The last store ID of this page, to pass back as `after`; absent on the last page. */
  nextCursor?: string
}

export interface StoreQuery {
  /** Only stores whose ID or name contains this (ASCII letters in any case); empty: all. */
  search?: string
  /** Only stores whose ID sorts after this one (the previous page's nextCursor). */
  after?: string
  limit: number
}

// KEYS: stores. ARGV: after ('' from the start), search (lower case, '' for all), limit.
// Answers {more (0|1), JSON…}: one page of records, ordered by store ID. The walk is over the whole
// hash, which the stores quota bounds; only the page leaves Redis, however large the catalogue is.
const STORE_PAGE = `
local all = redis.call('HGETALL', KEYS[1])
local after, search, limit = ARGV[1], ARGV[2], tonumber(ARGV[3])
local matches = {}
for i = 1, #all, 2 do
  local id = all[i]
  if id > after then
    local found = search == '' or string.find(string.lower(id), search, 1, true) ~= nil
    if not found then
      local ok, record = pcall(cjson.decode, all[i + 1])
      found = ok and type(record) == 'table' and type(record.name) == 'string' and string.find(string.lower(record.name), search, 1, true) ~= nil
    end
    if found then matches[#matches + 1] = i end
  end
end
table.sort(matches, function(a, b) return all[a] < all[b] end)
local page = { #matches > limit and 1 or 0 }
for n = 1, math.min(limit, #matches) do page[#page + 1] = all[matches[n] + 1] end
return page
`

/**
 * The store dropdown's reader of inventory's catalogue (the hash `stores(t)`, which inventory owns
 * and this service only reads): paged by store ID and searchable, filtered inside Redis.
 */
export function storeList(redis: Redis, namespace: string) {
  const keys = inventoryKeys(namespace)
  return {
    async page(tenantId: string, { search = '', after = '', limit }: StoreQuery): Promise<StorePage> {
      const [more, ...records] = await redis.eval(STORE_PAGE, 1, keys.stores(tenantId), after, search.toLowerCase(), limit) as [number, ...string[]]
      const items = records.map((json) => {
        const { storeId, name } = JSON.parse(json) as StoreRecord
        return { storeId, name }
      })
      return more === 1 && items.length > 0 ? { items, nextCursor: items.at(-1)!.storeId } : { items }
    },
  }
}
