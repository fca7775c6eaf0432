import { existsSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { Logger } from '@turnstream/logger';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from './errors.ts';

/**
 * The playground: a small page at `/` (built by Vite from `web/`) to try the API in a browser.
 * It uses the public API only, with the key the user signs in with; EventSource follows a
 * conversation with a stream token. Its responses carry a strict Content-Security-Policy.
 */
export interface PlaygroundConfig {
  /** Directory of the built page (`index.html`, `assets/`); default: this package's `web/dist`. */
  dir?: string;
  /**
   * Development only: a key the page offers prefilled, to loopback clients. Never set it where
   * anyone but the developer can reach the API.
   */
  devKey?: string | null;
}

/** Where `pnpm --filter @turnstream/api build:web` writes the page. */
export const BUILT_PLAYGROUND_DIR = fileURLToPath(new URL('../web/dist', import.meta.url));

/** Only what the page's own origin serves; no inline code, no frames, no forms posting anywhere. */
export const PLAYGROUND_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
].join('; ');

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': PLAYGROUND_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

function isLoopback(request: FastifyRequest): boolean {
  return LOOPBACK.has(request.socket.remoteAddress ?? '');
}

/** Hashed build assets (under `assets/`) never change under a name; anything else is revalidated. */
function cacheHeaders(dir: string) {
  const assets = join(dir, 'assets') + sep;
  return (res: { setHeader(name: string, value: string): unknown }, path: string): void => {
    res.setHeader(
      'cache-control',
      path.startsWith(assets) ? 'public, max-age=31536000, immutable' : 'no-cache',
    );
  };
}

/** Register the playground routes: the built page at `/`, and `GET /playground/config`. */
export function registerPlayground(app: FastifyInstance, config: PlaygroundConfig, logger: Logger): void {
  const dir = resolve(config.dir ?? BUILT_PLAYGROUND_DIR);
  const devKey = config.devKey ?? null;
  app.register(async (page) => {
    page.addHook('onSend', async (_request, reply: FastifyReply) => {
      for (const [name, value] of Object.entries(SECURITY_HEADERS)) reply.header(name, value);
    });

    // What the page needs to know before sign-in. The development key goes to loopback clients only.
    page.get('/playground/config', async (request, reply) => {
      reply.header('cache-control', 'no-store');
      return { devKey: devKey && isLoopback(request) ? devKey : null };
    });

    if (!existsSync(join(dir, 'index.html'))) {
      logger.warn(
        { event: 'playground.assets_missing', dir },
        'playground page not built: run `pnpm --filter @turnstream/api build:web`',
      );
      page.get('/', async () => {
        throw new ApiError('not_found', {
          message: 'The playground page is not built: run `pnpm --filter @turnstream/api build:web`.',
        });
      });
      return;
    }
    // One route per built file (no wildcard): anything else falls through to the JSON 404.
    await page.register(fastifyStatic, {
      root: dir,
      wildcard: false,
      index: ['index.html'],
      cacheControl: false,
      etag: true,
      lastModified: true,
      setHeaders: cacheHeaders(dir),
    });
  });
}
