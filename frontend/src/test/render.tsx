/** Render a screen the way the app does: providers, a signed-in user of a role, a router. */
import type { ReactElement } from 'react';
import { render } from '@testing-library/react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { createMemoryRouter, RouterProvider, type RouteObject } from 'react-router-dom';
import { Providers } from '../App';
import { StaticAuthProvider, type Auth } from '../auth/AuthContext';
import { can, mainRole } from '../auth/can';
import { configureApiClient } from '../api/client';

export function authAs(role: string): Auth {
  const roles = [role];
  return {
    user: { username: role, name: `${role} user`, email: null, roles },
    role: mainRole(roles),
    can: (action) => can(action, roles),
    logout: async () => {},
  };
}

export function renderRoutes(routes: RouteObject[], { path, role = 'data-scientist' }: { path: string; role?: string }) {
  configureApiClient({ getToken: () => 'test-token', onUnauthorized: async () => false });
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  const router = createMemoryRouter(routes, { initialEntries: [path] });
  const result = render(
    <Providers>
      <QueryClientProvider client={client}>
        <StaticAuthProvider auth={authAs(role)}>
          <RouterProvider router={router} />
        </StaticAuthProvider>
      </QueryClientProvider>
    </Providers>,
  );
  return { ...result, router };
}

export function renderPage(element: ReactElement, options: { path?: string; route?: string; role?: string } = {}) {
  const route = options.route ?? '/';
  return renderRoutes([{ path: route, element }, { path: '*', element: <div data-testid="elsewhere" /> }], {
    path: options.path ?? route,
    role: options.role,
  });
}
