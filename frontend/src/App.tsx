/** Providers around the router: Ant Design (fr_FR / en_US), TanStack Query, the session. */
import { useMemo } from 'react';
import { ConfigProvider } from 'antd';
import frFR from 'antd/locale/fr_FR';
import enUS from 'antd/locale/en_US';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { createBrowserRouter, RouterProvider } from 'react-router-dom';
import { useTranslation } from 'react-i18next';
import { ApiError } from './api/client';
import { AuthProvider } from './auth/AuthContext';
import type { Session } from './auth/session';
import { buildRoutes } from './routes';

export function makeQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        staleTime: 10_000,
        refetchOnWindowFocus: false,
        // Client errors (400-499) are answers, not hiccups: never retried.
        retry: (count, error) =>
          count < 2 && !(error instanceof ApiError && error.status >= 400 && error.status < 500),
      },
    },
  });
}

/** Ant Design's greys made darker where they carry text, for WCAG AA contrast (axe). */
const THEME = {
  token: {
    colorPrimary: '#1f5fbf',
    colorError: '#cf1322',
    // Hover / active shades too: a focused or hovered button keeps AA contrast (axe).
    colorErrorHover: '#a8071a',
    colorErrorActive: '#820014',
    colorPrimaryHover: '#174a96',
    colorPrimaryActive: '#123b78',
    colorLink: '#1f5fbf',
    colorInfo: '#1f5fbf',
    colorTextDescription: 'rgba(0, 0, 0, 0.62)',
    colorTextTertiary: 'rgba(0, 0, 0, 0.62)',
    colorTextQuaternary: 'rgba(0, 0, 0, 0.58)',
    colorTextPlaceholder: 'rgba(0, 0, 0, 0.58)',
  },
};

export function Providers({ children }: { children: React.ReactNode }) {
  const { i18n } = useTranslation();
  return (
    <ConfigProvider locale={i18n.language === 'en' ? enUS : frFR} theme={THEME}>
      {children}
    </ConfigProvider>
  );
}

export function App({ session }: { session: Session }) {
  const queryClient = useMemo(makeQueryClient, []);
  const router = useMemo(() => createBrowserRouter(buildRoutes()), []);
  return (
    <Providers>
      <QueryClientProvider client={queryClient}>
        <AuthProvider session={session}>
          <RouterProvider router={router} />
        </AuthProvider>
      </QueryClientProvider>
    </Providers>
  );
}
