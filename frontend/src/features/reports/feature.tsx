/** Rapports (guide 7.1): the four built-in reports, each at its own URL. */
import { lazy } from 'react';
import { Navigate } from 'react-router-dom';
import { BarChartOutlined } from '@ant-design/icons';
import type { Feature } from '../types';

const ReportsPage = lazy(() => import('./ReportsPage'));

export const feature: Feature = {
  section: 'reports',
  path: '/reports',
  labelKey: 'menu.reports',
  icon: <BarChartOutlined />,
  action: 'reports:read',
  routes: [
    { index: true, element: <Navigate to="model-performance" replace /> },
    { path: ':report', element: <ReportsPage /> },
  ],
};
