/** Tableau de bord (guide 3.2): the first screen after login, for every role. */
import { lazy } from 'react';
import { DashboardOutlined } from '@ant-design/icons';
import type { Feature } from '../types';

const DashboardPage = lazy(() => import('./DashboardPage'));

export const feature: Feature = {
  section: 'dashboard',
  path: '/dashboard',
  labelKey: 'menu.dashboard',
  icon: <DashboardOutlined />,
  action: 'dashboard:read',
  routes: [{ index: true, element: <DashboardPage /> }],
};
