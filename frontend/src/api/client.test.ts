import { http, HttpResponse } from 'msw';
import { describe, expect, it, vi } from 'vitest';
import { apiFetch, ApiError, buildQuery, configureApiClient, serviceStatus } from './client';
import { envelope, server } from '../test/server';

describe('buildQuery', () => {
  it('leaves out empty values and repeats arrays', () => {
    expect(buildQuery({ q: 'vins', department: '', region: undefined, tag: ['a', 'b'], page: 2 })).toBe(
      '?q=vins&tag=a&tag=b&page=2',
    );
    expect(buildQuery({})).toBe('');
  });
});

describe('apiFetch', () => {
  it('sends the bearer token and a request id', async () => {
    configureApiClient({ getToken: () => 'tok-1', onUnauthorized: async () => false });
    let seen: Headers | null = null;
    server.use(
      http.get('/api/v1/me', ({ request }) => {
        seen = request.headers;
        return HttpResponse.json({ username: 'viewer' });
      }),
    );
    await expect(apiFetch('/me')).resolves.toEqual({ username: 'viewer' });
    expect(seen!.get('Authorization')).toBe('Bearer tok-1');
    expect(seen!.get('X-Request-ID')).toMatch(/.{8,}/);
  });

  it('turns the error envelope into a typed ApiError with field errors', async () => {
    configureApiClient({ getToken: () => 't', onUnauthorized: async () => false });
    server.use(
      http.post('/api/v1/models', () =>
        HttpResponse.json(envelope('validation_error', 'invalid name', { name: ['Missing data'] }), {
          status: 400,
          headers: { 'X-Request-ID': 'req-9' },
        }),
      ),
    );
    const error = (await apiFetch('/models', { method: 'POST', json: {} }).catch((e) => e)) as ApiError;
    expect(error).toBeInstanceOf(ApiError);
    expect(error.status).toBe(400);
    expect(error.code).toBe('validation_error');
    expect(error.requestId).toBe('req-9');
    expect(error.fieldErrors()).toEqual({ name: ['Missing data'] });
  });

  it('on a 401 renews once and retries with the new token', async () => {
    let token = 'old';
    const onUnauthorized = vi.fn(async () => {
      token = 'new';
      return true;
    });
    configureApiClient({ getToken: () => token, onUnauthorized });
    server.use(
      http.get('/api/v1/models', ({ request }) =>
        request.headers.get('Authorization') === 'Bearer new'
          ? HttpResponse.json({ items: [], total: 0, page: 1, per_page: 20 })
          : HttpResponse.json(envelope('unauthorized', 'expired'), { status: 401 }),
      ),
    );
    await expect(apiFetch('/models')).resolves.toMatchObject({ total: 0 });
    expect(onUnauthorized).toHaveBeenCalledTimes(1);
  });

  it('a 401 that cannot be renewed is an error (the auth layer goes to the login)', async () => {
    const onUnauthorized = vi.fn(async () => false);
    configureApiClient({ getToken: () => 'x', onUnauthorized });
    server.use(http.get('/api/v1/models', () => HttpResponse.json(envelope('unauthorized', 'no'), { status: 401 })));
    await expect(apiFetch('/models')).rejects.toMatchObject({ status: 401, code: 'unauthorized' });
    expect(onUnauthorized).toHaveBeenCalledTimes(1);
  });

  it('a 503 raises the service banner and a later success lowers it', async () => {
    configureApiClient({ getToken: () => 'x', onUnauthorized: async () => false });
    server.use(
      http.get('/api/v1/models', () => HttpResponse.json(envelope('service_unavailable', 'registry'), { status: 503 })),
    );
    await expect(apiFetch('/models')).rejects.toMatchObject({ code: 'service_unavailable' });
    expect(serviceStatus.unavailable).toBe(true);
    server.use(http.get('/api/v1/models', () => HttpResponse.json({ items: [] })));
    await apiFetch('/models');
    expect(serviceStatus.unavailable).toBe(false);
  });

  it('a 204 resolves undefined; a non-JSON error still becomes an ApiError', async () => {
    configureApiClient({ getToken: () => 'x', onUnauthorized: async () => false });
    server.use(
      http.delete('/api/v1/models/1', () => new HttpResponse(null, { status: 204 })),
      http.get('/api/v1/models/2', () => new HttpResponse('<html>bad gateway</html>', { status: 502 })),
    );
    await expect(apiFetch('/models/1', { method: 'DELETE' })).resolves.toBeUndefined();
    await expect(apiFetch('/models/2')).rejects.toMatchObject({ status: 502, code: 'http_502' });
  });
});
