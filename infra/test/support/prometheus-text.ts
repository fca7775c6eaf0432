/**
 * Looks a series up in Prometheus text exposition the way KEDA's metrics-api scaler does with
 * `format: prometheus`: `valueLocation` is a selector `name{label="value",...}`; the first sample of the
 * family `name` whose labels include every label of the selector gives the value.
 */
export function valueAt(exposition: string, valueLocation: string): number {
  const selector = parseSeries(valueLocation);
  if (!selector) throw new TypeError(`not a series selector: ${valueLocation}`);
  for (const line of exposition.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const space = line.lastIndexOf(' ');
    const series = parseSeries(line.slice(0, space));
    if (!series || series.name !== selector.name) continue;
    if (Object.entries(selector.labels).every(([k, v]) => series.labels[k] === v)) {
      return Number(line.slice(space + 1));
    }
  }
  throw new Error(`metric '${valueLocation}' not found`);
}

const SERIES = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

function parseSeries(text: string): { name: string; labels: Record<string, string> } | null {
  const match = SERIES.exec(text.trim());
  if (!match) return null;
  const labels: Record<string, string> = {};
  for (const [, key, value] of (match[2] ?? '').matchAll(LABEL))
    labels[key!] = value!.replace(/\\(.)/g, '$1');
  return { name: match[1]!, labels };
}
