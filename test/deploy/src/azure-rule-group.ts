/**
 * The Arrivals alert rules as an ARM template of Azure Monitor Prometheus rule groups
 * (Microsoft.AlertsManagement/prometheusRuleGroups), the only way Azure's managed Prometheus
 * evaluates rules: one rule group per group of the Prometheus rule file, the same names,
 * expressions, `for`, labels and annotations. k8s/components/observability/ commits the result;
 * the test keeps it equal to what this makes from deploy/observability/prometheus/arrivals-rules.yaml.
 */
export interface PrometheusRuleFile {
  groups: { name: string; interval?: string; rules: { alert?: string; record?: string; expr: string; for?: string; labels?: Record<string, string>; annotations?: Record<string, string> }[] }[]
}

/** Azure's alert severities: 0 critical, 1 error, 2 warning, 3 informational, 4 verbose. */
const severities: Record<string, number> = { critical: 0, warning: 2, info: 3 }

/** `15m` → `PT15M`, `1h30m` → `PT1H30M`: the ISO 8601 durations the rule group takes. */
export function isoDuration(duration: string): string {
  const parts = [...duration.matchAll(/(\d+)(h|m|s)/g)]
  if (parts.map(([part]) => part).join('') !== duration) throw new Error(`unsupported duration "${duration}" (use h, m, s)`)
  return `PT${parts.map(([, count, unit]) => `${count}${unit!.toUpperCase()}`).join('')}`
}

/** ARM evaluates a string that starts with "[" as an expression; "[[" is a literal "[". */
const literal = (text: string) => (text.startsWith('[') ? `[${text}` : text)
const literals = (record: Record<string, string> = {}) => Object.fromEntries(Object.entries(record).map(([key, value]) => [key, literal(value)]))

export function azureRuleGroupTemplate(file: PrometheusRuleFile): Record<string, unknown> {
  return {
    $schema: 'https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#',
    contentVersion: '1.0.0.0',
    metadata: { description: 'Generated from deploy/observability/prometheus/arrivals-rules.yaml by test/deploy (src/azure-rule-group.ts); do not edit by hand.' },
    parameters: {
      azureMonitorWorkspaceId: { type: 'string', metadata: { description: 'Resource id of the Azure Monitor workspace the cluster sends its metrics to.' } },
      clusterName: { type: 'string', metadata: { description: 'The AKS cluster the rules apply to (its metrics carry this name).' } },
      actionGroupId: { type: 'string', defaultValue: '', metadata: { description: 'Resource id of the action group to notify; empty for none (alerts still show in Azure Monitor).' } },
      location: { type: 'string', defaultValue: '[resourceGroup().location]' },
    },
    resources: file.groups.map((group) => ({
      type: 'Microsoft.AlertsManagement/prometheusRuleGroups',
      apiVersion: '2023-03-01',
      name: `[format('{0}-${group.name}', parameters('clusterName'))]`,
      location: '[parameters(\'location\')]',
      properties: {
        description: `Arrivals: ${group.name}`,
        scopes: ['[parameters(\'azureMonitorWorkspaceId\')]'],
        clusterName: '[parameters(\'clusterName\')]',
        enabled: true,
        interval: isoDuration(group.interval ?? '1m'),
        rules: group.rules.map((rule) => {
          if (!rule.alert) throw new Error(`${group.name}: only alert rules are converted (got record ${rule.record})`)
          const severity = severities[rule.labels?.severity ?? '']
          if (severity === undefined) throw new Error(`${rule.alert}: labels.severity must be one of ${Object.keys(severities).join(', ')}`)
          return {
            alert: rule.alert,
            expression: literal(rule.expr.trim()),
            ...(rule.for ? { for: isoDuration(rule.for) } : {}),
            severity,
            enabled: true,
            labels: literals(rule.labels),
            annotations: literals(rule.annotations),
            resolveConfiguration: { autoResolved: true, timeToResolve: 'PT10M' },
            actions: '[if(empty(parameters(\'actionGroupId\')), createArray(), createArray(createObject(\'actionGroupId\', parameters(\'actionGroupId\'))))]',
          }
        }),
      },
    })),
  }
}
