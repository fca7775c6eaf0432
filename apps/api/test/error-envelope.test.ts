import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError } from '../src/errors.ts';
import { Harness } from './helpers.ts';

/**
 * Every error response leaves with a catalog code, also from plugins with their own error format or
 * error handler (the queue dashboard is one): simulated here by a scope that answers its own way.
 */
let h: Harness;
let appUnderTest: ReturnType<Harness['build']>;

beforeAll(async () => {
  h = new Harness();
  await h.start();
  const app = h.build({});
  app.register(async (plugin) => {
    plugin.setErrorHandler((_err, _request, reply) =>
      reply.code(500).send({ error: { key: 'ERRORS.INTERNAL' } }),
    );
    plugin.get('/plugin/rejects', async () => {
      throw new ApiError('validation_failed', { message: 'Invalid request: x: bad' });
    });
    plugin.get('/plugin/own-404', async (_request, reply) =>
      reply.code(404).send({ error: { key: 'ERRORS.JOB_NOT_FOUND' } }),
    );
    plugin.get('/plugin/fastify-shape', async (_request, reply) =>
      reply.code(422).send({ error: 'Unprocessable', message: 'nope', statusCode: 422 }),
    );
    plugin.get('/plugin/html', async (_request, reply) =>
      reply.code(403).type('text/html').send('<p>no</p>'),
    );
  });
  await app.ready();
  appUnderTest = app;
});
afterAll(async () => {
  await h?.close();
});

describe('error envelope on every response', () => {
  it("our rejection inside a plugin with its own error handler keeps the catalog's status and body", async () => {
    const res = await appUnderTest.inject({ method: 'GET', url: '/plugin/rejects' });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: { code: 'validation_failed', message: 'Invalid request: x: bad' } });
  });

  it("a plugin's own error body gets a catalog code and keeps its fields", async () => {
    const res = await appUnderTest.inject({ method: 'GET', url: '/plugin/own-404' });
    expect(res.statusCode).toBe(404);
    expect(res.json().error).toMatchObject({ code: 'not_found', key: 'ERRORS.JOB_NOT_FOUND' });
  });

  it("Fastify's error shape becomes the envelope; a status without a code becomes its code's status", async () => {
    const res = await appUnderTest.inject({ method: 'GET', url: '/plugin/fastify-shape' });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: { code: 'bad_request', message: 'nope' } });
  });

  it('an HTML error page carries x-error-code', async () => {
    const res = await appUnderTest.inject({ method: 'GET', url: '/plugin/html' });
    expect(res.statusCode).toBe(403);
    expect(res.headers['x-error-code']).toBe('forbidden');
    expect(res.headers['x-request-id']).toBeTruthy();
  });
});
