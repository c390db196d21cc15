/**
 * msw: the API mocked at the network level for Vitest.
 *
 *   server.use(http.get('/api/v1/models', () => HttpResponse.json(page([...]))));
 */
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';

/** `GET /resource-limits` (every form with "Ressources" asks it): the settings' defaults. */
export const RESOURCE_LIMITS = {
  min_memory_mb: 64,
  max_memory_mb: 2048,
  default_memory_mb: 2048,
  min_timeout_s: 1,
  max_timeout_s: 3600,
  default_timeout_s: 600,
};

export const server = setupServer(http.get('/api/v1/resource-limits', () => HttpResponse.json(RESOURCE_LIMITS)));

export function page<T>(items: T[], total = items.length, pageNo = 1, perPage = 20) {
  return { items, total, page: pageNo, per_page: perPage };
}

export function envelope(code: string, message: string, details: Record<string, unknown> = {}) {
  return { error: { code, message, details } };
}
