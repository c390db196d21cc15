/** Rapports (guide 7.1): the four built-in reports, each at its own URL. */
import { lazy } from 'react';
import { Navigate, useLocation } from 'react-router-dom';
import { BarChartOutlined } from '@ant-design/icons';
import type { Feature } from '../types';

const ReportsPage = lazy(() => import('./ReportsPage'));

/** `/reports` opens the first report, keeping the period and the filters of the link. */
function FirstReport() {
  const { search } = useLocation();
  return <Navigate to={`model-performance${search}`} replace />;
}

export const feature: Feature = {
  section: 'reports',
  path: '/reports',
  labelKey: 'menu.reports',
  icon: <BarChartOutlined />,
  action: 'reports:read',
  routes: [
    { index: true, element: <FirstReport /> },
    { path: ':report', element: <ReportsPage /> },
  ],
};
