import { createNodeFetch, type NodeFetch } from './node-fetch.ts';

/** How the provider talks HTTP: `node` (node:http, see `node-fetch.ts`) or `fetch` (the platform's, undici). */
export const CLAUDE_HTTP_CLIENTS = ['node', 'fetch'] as const;
export type ClaudeHttpClient = (typeof CLAUDE_HTTP_CLIENTS)[number];

/** The one home of the default HTTP client (the worker's `CLAUDE_HTTP_CLIENT` defaults to it). */
export const DEFAULT_CLAUDE_HTTP_CLIENT: ClaudeHttpClient = 'node';

/** The `fetch` option to give the SDK for `client`; undefined lets the SDK take the platform fetch. */
export function sdkFetchFor(client: ClaudeHttpClient): NodeFetch | undefined {
  return client === 'node' ? createNodeFetch() : undefined;
}
