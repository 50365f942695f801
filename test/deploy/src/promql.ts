/**
 * The metric names a PromQL expression reads, without a PromQL parser: string literals, label
 * matchers, range and subquery brackets, grouping clauses and Grafana's `$variables` are removed;
 * what is left that names no function, keyword or number is a metric. Enough for the expressions
 * in deploy/observability (a test checks it on known expressions).
 */
const keywords = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'inf', 'nan'])

export function metricNames(expression: string): string[] {
  const stripped = expression
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\{?\w+\}?/g, ' ')
  const names = new Set<string>()
  for (const match of stripped.matchAll(/(?<![\w.:])([A-Za-z_:][\w:]*)(\s*\()?/g)) {
    const [, name, call] = match
    if (call || keywords.has(name!.toLowerCase())) continue
    names.add(name!)
  }
  return [...names]
}

/**
 * The names a Prometheus text exposition offers, from its `# TYPE` lines, so a labelled metric
 * that has no sample yet still counts: a histogram's `_bucket`, `_sum` and `_count`, a summary's
 * `_sum` and `_count`, and the name itself.
 */
export function exposedNames(exposition: string): Set<string> {
  const names = new Set<string>()
  for (const [, name, type] of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(name!)
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(name! + suffix)
    if (type === 'summary') for (const suffix of ['_sum', '_count']) names.add(name! + suffix)
  }
  return names
}
