import SwaggerParser from '@apidevtools/swagger-parser'
import { createConfig, lintFromString } from '@redocly/openapi-core'
import { Spectral, type RulesetDefinition } from '@stoplight/spectral-core'
import { oas } from '@stoplight/spectral-rulesets'

/** One error a linter found in an API document: which linter, where, what. */
export interface LintError {
  linter: 'swagger-parser' | 'spectral:oas' | 'redocly:recommended'
  where: string
  message: string
}

/**
 * Runs the three validators integrators' tools use on a served API document (OpenAPI 3.x or Swagger
 * 2.0): swagger-parser's validation, Spectral's `spectral:oas` ruleset and Redocly's recommended
 * rules. Only errors are returned; warnings are a matter of taste.
 */
export async function lintApiDocument(document: object): Promise<LintError[]> {
  const errors: LintError[] = []
  try {
    await SwaggerParser.validate(structuredClone(document) as never)
  } catch (error) {
    errors.push({ linter: 'swagger-parser', where: '/', message: (error as Error).message })
  }

  const spectral = new Spectral()
  // As a ruleset file's `extends: spectral:oas` (its recommended rules).
  spectral.setRuleset({ extends: [oas as RulesetDefinition] })
  for (const result of await spectral.run(JSON.stringify(document, null, 2))) {
    // Severity 0 is an error.
    if (result.severity === 0) errors.push({ linter: 'spectral:oas', where: `/${result.path.join('/')}`, message: `${String(result.code)}: ${result.message}` })
  }

  const config = await createConfig({ extends: ['recommended'] })
  for (const problem of await lintFromString({ source: JSON.stringify(document, null, 2), absoluteRef: 'served.json', config })) {
    if (problem.severity === 'error') {
      errors.push({ linter: 'redocly:recommended', where: problem.location[0]?.pointer ?? '/', message: `${problem.ruleId}: ${problem.message}` })
    }
  }
  return errors
}
