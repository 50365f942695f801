import { resolveRefs } from '@arrivals/e2e/harness'
import type { Schema } from './schema-arbitrary.js'

export interface Parameter {
  name: string
  in: 'path' | 'query' | 'header'
  required: boolean
  schema: Schema
}

/** One operation of a service, as its own OpenAPI (or Swagger 2.0) document describes it. */
export interface Operation {
  method: string
  /** With the document's base path, e.g. `/v1/stores/{storeId}/receipts`. */
  path: string
  operationId: string
  parameters: Parameter[]
  body: Schema | undefined
  /** Whether the document declares a security requirement for it. */
  secured: boolean
}

const METHODS = ['get', 'post', 'put', 'patch', 'delete']

/** Reads every operation of an OpenAPI 3 or Swagger 2.0 document served at /docs/json. */
export function operationsOf(document: Record<string, unknown>): Operation[] {
  const root = document
  const basePath = typeof root.basePath === 'string' && root.basePath !== '/' ? root.basePath.replace(/\/$/, '') : ''
  const globalSecurity = Array.isArray(root.security) && root.security.length > 0
  const operations: Operation[] = []
  for (const [path, rawItem] of Object.entries((root.paths ?? {}) as Record<string, Record<string, unknown>>)) {
    const item = resolveRefs(rawItem, root) as Record<string, unknown>
    for (const method of METHODS) {
      const operation = item[method] as Record<string, unknown> | undefined
      if (!operation) continue
      const all = [...(item.parameters as unknown[] ?? []), ...(operation.parameters as unknown[] ?? [])] as Record<string, unknown>[]
      let body: Schema | undefined
      const parameters: Parameter[] = []
      for (const parameter of all) {
        if (parameter.in === 'body') {
          body = (parameter.schema ?? {}) as Schema
        } else if (parameter.in === 'path' || parameter.in === 'query' || parameter.in === 'header') {
          // Swagger 2.0 puts the schema keywords on the parameter itself; OpenAPI 3 under `schema`.
          const schema = (parameter.schema ?? Object.fromEntries(Object.entries(parameter).filter(([key]) => !['name', 'in', 'required', 'description'].includes(key)))) as Schema
          parameters.push({ name: String(parameter.name), in: parameter.in, required: parameter.required === true || parameter.in === 'path', schema })
        }
      }
      const requestBody = operation.requestBody as { content?: Record<string, { schema?: Schema }> } | undefined
      if (requestBody?.content) body = Object.values(requestBody.content)[0]?.schema ?? {}
      operations.push({
        method: method.toUpperCase(),
        path: basePath + path,
        operationId: String(operation.operationId ?? `${method} ${path}`),
        parameters,
        body,
        secured: Array.isArray(operation.security) ? operation.security.length > 0 : globalSecurity,
      })
    }
  }
  return operations
}
