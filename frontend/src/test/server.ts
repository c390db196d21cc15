/**
 * msw: the API mocked at the network level for Vitest.
 *
 *   server.use(http.get('/api/v1/models', () => HttpResponse.json(page([...]))));
 */
import { setupServer } from 'msw/node';

export const server = setupServer();

export function page<T>(items: T[], total = items.length, pageNo = 1, perPage = 20) {
  return { items, total, page: pageNo, per_page: perPage };
}

export function envelope(code: string, message: string, details: Record<string, unknown> = {}) {
  return { error: { code, message, details } };
}
