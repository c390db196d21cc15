import { http, HttpResponse } from 'msw';
import { describe, expect, it } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import ExecutionsListPage from './ExecutionsListPage';
import { page, server } from '../../test/server';
import { renderPage } from '../../test/render';

const user = userEvent.setup({ delay: null });
const SLOW = { timeout: 15_000 };

describe('ExecutionsListPage', () => {
  it('takes the period, département and région of a report link, shows them and sends them to the API', async () => {
    const seen: URLSearchParams[] = [];
    server.use(
      http.get('/api/v1/models', () => HttpResponse.json(page([]))),
      http.get('/api/v1/deployments', () => HttpResponse.json(page([]))),
      http.get('/api/v1/executions', ({ request }) => {
        seen.push(new URL(request.url).searchParams);
        return HttpResponse.json(page([
          { id: 'e1', status: 'succeeded', trigger: 'manual', model_id: 'm1', model_name: 'arbre', model_version: '1.0.0',
            created_at: '2026-03-02T10:00:00Z', started_at: '2026-03-02T10:00:01Z', duration_s: 1.5, created_by: 'business' },
        ], 7));
      }),
    );
    const { router } = renderPage(<ExecutionsListPage />, {
      route: '/executions',
      path: '/executions?from=2026-03-01T00:00:00Z&to=2026-03-03T00:00:00Z&department=Finance&region=Europe&status=succeeded',
    });
    expect(await screen.findByText('7 exécutions', {}, SLOW)).toBeInTheDocument();
    const asked = seen.at(-1)!;
    expect(asked.get('from')).toBe('2026-03-01T00:00:00Z');
    expect(asked.get('to')).toBe('2026-03-03T00:00:00Z');
    expect(asked.get('department')).toBe('Finance');
    expect(asked.get('region')).toBe('Europe');
    expect(asked.get('status')).toBe('succeeded');
    const scope = screen.getByTestId('executions-scope');
    expect(within(scope).getByText('Département : Finance')).toBeInTheDocument();
    expect(within(scope).getByText('Région : Europe')).toBeInTheDocument();
    expect(within(scope).getByText(/^Depuis le \d\d\/03\/2026/)).toBeInTheDocument();
    expect(within(scope).getByText(/^Avant le/)).toBeInTheDocument();
    // a tag removed: gone from the URL and from the next query
    const department = within(scope).getByText('Département : Finance').closest('[data-scope]')!;
    await user.click(department.querySelector('.ant-tag-close-icon')!);
    await waitFor(() => expect(router.state.location.search).not.toContain('department'));
    await waitFor(() => expect(seen.at(-1)!.get('department')).toBeNull());
    expect(seen.at(-1)!.get('region')).toBe('Europe');
  }, 120_000);
});
