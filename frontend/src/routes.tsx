/** The router: the layout around every feature's routes, each guarded by its action. */
import { Navigate, Outlet, type RouteObject } from 'react-router-dom';
import { Forbidden, NotFoundMessage } from './components/StatusMessage';
import { AppLayout } from './layout/AppLayout';
import { FEATURES } from './features/registry';
import type { Feature } from './features/types';
import { useAuth } from './auth/AuthContext';

/** A feature's routes render only for roles allowed its action; others get a clear 403. */
function FeatureGuard({ feature }: { feature: Feature }) {
  const auth = useAuth();
  if (!auth.can(feature.action)) return <Forbidden />;
  return <Outlet />;
}

function Home() {
  const auth = useAuth();
  const first = FEATURES.find((feature) => auth.can(feature.action));
  return first ? <Navigate to={first.path} replace /> : <NotFound />;
}

export function NotFound() {
  return <NotFoundMessage page />;
}

export function buildRoutes(features: Feature[] = FEATURES): RouteObject[] {
  return [
    {
      path: '/',
      element: <AppLayout />,
      children: [
        { index: true, element: <Home /> },
        ...features.map((feature) => ({
          path: feature.path,
          element: <FeatureGuard feature={feature} />,
          children: feature.routes,
        })),
        { path: '*', element: <NotFound /> },
      ],
    },
  ];
}
