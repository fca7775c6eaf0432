/**
 * Fastify's query-string parser keeps a component it cannot decode as it is (`%zz`) and decodes an
 * encoded surrogate half (`%ED%A0%80`) into text that cannot be stored. Such a query is rejected
 * before any handler runs; this finds the first offending parameter.
 */

function decodeComponent(raw: string): string | null {
  try {
    return decodeURIComponent(raw.replaceAll('+', ' '));
  } catch {
    return null;
  }
}

/**
 * The name of the first query parameter whose name or value is not valid percent-encoded UTF-8
 * (`''` when the name itself is undecodable), or `null` when the whole query string is fine.
 */
export function malformedQueryParameter(url: string): string | null {
  const start = url.indexOf('?');
  if (start < 0) return null;
  for (const pair of url.slice(start + 1).split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const name = decodeComponent(eq < 0 ? pair : pair.slice(0, eq));
    if (name === null) return '';
    if (eq >= 0 && decodeComponent(pair.slice(eq + 1)) === null) return name;
  }
  return null;
}
