import { http, HttpResponse } from 'msw';
import { describe, expect, it } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import SystemLogsPage from './SystemLogsPage';
import { mergeNewest, type SystemLog } from './api';
import { envelope, server } from '../../test/server';
import { renderPage } from '../../test/render';
import { ErrorState } from '../../components/QueryState';
import { ApiError } from '../../api/client';

const user = userEvent.setup({ delay: null });

function line(id: string, message: string, extra: Partial<SystemLog> = {}): SystemLog {
  return { id, at: '2026-03-01T10:00:00.000Z', service: 'registry', level: 'WARNING', message, request_id: 'rid-1', logger: 'x', host: 'h', pid: 1, ...extra };
}

describe('SystemLogsPage', () => {
  it('shows the lines newest first with their service, level and request id, filters from the URL', async () => {
    const seen: URLSearchParams[] = [];
    server.use(
      http.get('/api/v1/admin/logs', ({ request }) => {
        const params = new URL(request.url).searchParams;
        seen.push(params);
        return HttpResponse.json({ items: [line('b', 'second line'), line('a', 'first line', { service: 'gateway', level: 'INFO' })], total: 2, page: 1, per_page: 50, cursor: 'b' });
      }),
    );
    renderPage(<SystemLogsPage />, { route: '/admin/logs', role: 'admin', path: '/admin/logs?request_id=rid-1&level=WARNING&service=registry' });
    expect(await screen.findByText('second line')).toBeInTheDocument();
    expect(screen.getByRole('heading', { name: 'Journaux système' })).toBeInTheDocument();
    expect(seen[0].get('request_id')).toBe('rid-1');
    expect(seen[0].get('level')).toBe('WARNING');
    expect(seen[0].get('service')).toBe('registry');
    expect(seen[0].get('after')).toBeNull();
    const rows = within(screen.getByTestId('syslogs-table')).getAllByRole('row');
    expect(within(rows[1]).getByText('second line')).toBeInTheDocument();
    expect(within(rows[1]).getByText('Avertissement')).toBeInTheDocument();
    expect(within(rows[2]).getByText('Information')).toBeInTheDocument();
    expect(within(rows[2]).getByRole('link', { name: 'Lignes de la requête rid-1' })).toHaveAttribute('href', '/admin/logs?request_id=rid-1');
    expect(screen.getByLabelText('Identifiant de requête')).toHaveValue('rid-1');
  });

  it('follows live: polls after the cursor and puts the new lines on top', async () => {
    const seen: URLSearchParams[] = [];
    server.use(
      http.get('/api/v1/admin/logs', ({ request }) => {
        const params = new URL(request.url).searchParams;
        seen.push(params);
        if (params.get('after') === 'a') return HttpResponse.json({ items: [line('c', 'a new line')], total: 1, page: 1, per_page: 200, cursor: 'c' });
        if (params.get('after') === 'c') return HttpResponse.json({ items: [], total: 0, page: 1, per_page: 200, cursor: 'c' });
        return HttpResponse.json({ items: [line('a', 'old line')], total: 1, page: 1, per_page: 50, cursor: 'a' });
      }),
    );
    renderPage(<SystemLogsPage />, { route: '/admin/logs', role: 'admin', path: '/admin/logs?q=line' });
    await screen.findByText('old line');
    await user.click(screen.getByRole('switch', { name: 'Suivre en direct' }));
    expect(await screen.findByText('a new line', {}, { timeout: 5000 })).toBeInTheDocument();
    const rows = within(screen.getByTestId('syslogs-table')).getAllByRole('row');
    expect(within(rows[1]).getByText('a new line')).toBeInTheDocument();
    expect(within(rows[2]).getByText('old line')).toBeInTheDocument();
    const follow = seen.find((params) => params.get('after') === 'a')!;
    expect(follow.get('q')).toBe('line');
    await waitFor(() => expect(seen.some((params) => params.get('after') === 'c')).toBe(true), { timeout: 5000 });
    expect(screen.getAllByText('a new line')).toHaveLength(1);
  }, 15000);

  it('shows the 403 screen when the API refuses', async () => {
    server.use(http.get('/api/v1/admin/logs', () => HttpResponse.json(envelope('forbidden', 'no'), { status: 403 })));
    renderPage(<SystemLogsPage />, { route: '/admin/logs', role: 'admin' });
    expect(await screen.findByText('Accès refusé')).toBeInTheDocument();
  });

  it('merges the new lines once each, newest first', () => {
    expect(mergeNewest([line('c', 'c'), line('b', 'b')], [line('b', 'b'), line('a', 'a')]).map((l) => l.id)).toEqual(['c', 'b', 'a']);
  });
});

describe('an API error of a request, for an admin', () => {
  const failure = new ApiError(500, 'internal_error', 'boom', {}, 'rid-42');

  it('links its request id to the system logs of that request', async () => {
    renderPage(<ErrorState error={failure} />, { role: 'admin' });
    const link = await screen.findByRole('link', { name: 'Voir les journaux de la requête rid-42' });
    expect(link).toHaveAttribute('href', '/admin/logs?request_id=rid-42');
  });

  it('shows it as text only to the other roles', async () => {
    renderPage(<ErrorState error={failure} />, { role: 'data-scientist' });
    expect(await screen.findByText(/rid-42/)).toBeInTheDocument();
    expect(screen.queryByRole('link')).toBeNull();
  });
});
