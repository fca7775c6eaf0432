import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, RouteOptions } from 'fastify';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { OPERATIONS, type Operation, paramsOf } from './operations.ts';
import { errorEnvelope } from './resources.ts';

export { OPERATIONS } from './operations.ts';

/** Who may call an operation, in words (the README's table and the document's descriptions). */
export function rolesOf(op: Operation): string {
  if (op.permission === null) return 'no key';
  return { read: 'viewer, client, admin', write: 'client, admin', operate: 'admin' }[op.permission];
}

function schemaOf(method: string, url: string, op: Operation) {
  const params = paramsOf(url);
  return {
    summary: op.summary,
    description: `Keys: ${rolesOf(op)}. Errors answer the catalog's envelope (docs/errors.md).`,
    tags: op.tags,
    operationId: `${method.toLowerCase()}${url.replace(/[/:-](\w)/g, (_, c: string) => c.toUpperCase())}`,
    security: op.permission === null ? [] : [{ bearer: [] }],
    ...(op.body ? { body: op.body } : {}),
    ...(op.querystring ? { querystring: op.querystring } : {}),
    ...(op.headers ? { headers: op.headers } : {}),
    ...(params ? { params } : {}),
    response: { ...op.responses, default: errorEnvelope },
  };
}

/**
 * OpenAPI 3.1 from the routes' zod schemas: `GET /openapi.json` and a reference page at `/docs`
 * (swagger-ui, assets served from the package). Call before any route is added.
 *
 * The schemas document; they do not validate or serialize. Handlers keep parsing their input with
 * `parseInput` (so every rejection, and the order of checks such as 401, 403 then 400, stays as the
 * error catalog says) and send what they build; a test checks real responses against the document.
 */
export function registerOpenApi(app: FastifyInstance, opts: { version: string }): void {
  app.setValidatorCompiler(() => () => true);
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  app.addHook('onRoute', (route: RouteOptions) => {
    if (typeof route.method !== 'string') return;
    const op = OPERATIONS[`${route.method} ${route.url}`];
    if (op) route.schema = { ...route.schema, ...schemaOf(route.method, route.url ?? '', op) };
  });
  app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Turnstream API',
        version: opts.version,
        description:
          'Conversations with Claude run on workers, followed live as Server-Sent Events. Every request carries `Authorization: Bearer <key>`; errors are `{ "error": { "code", "message", "details"? } }` with a code from the catalog.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
    // Only the public API is documented: the admin area, the playground and these pages are not.
    transform: (doc) => {
      const op = OPERATIONS[`${doc.route.method} ${doc.url}`];
      return op ? jsonSchemaTransform(doc) : { schema: { hide: true }, url: doc.url };
    },
    transformObject: jsonSchemaTransformObject,
  });
  app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list', deepLinking: true } });
  app.register(async (scope) => {
    scope.get('/openapi.json', async () => app.swagger());
  });
}
