/** Exécutions (guide 6): the list and the detail of every run. */
import { lazy } from 'react';
import { ThunderboltOutlined } from '@ant-design/icons';
import type { Feature } from '../types';

const ExecutionsListPage = lazy(() => import('./ExecutionsListPage'));
const ExecutionDetailPage = lazy(() => import('./ExecutionDetailPage'));

export const feature: Feature = {
  section: 'executions',
  path: '/executions',
  labelKey: 'menu.executions',
  icon: <ThunderboltOutlined />,
  action: 'executions:read',
  routes: [
    { index: true, element: <ExecutionsListPage /> },
    { path: ':executionId', element: <ExecutionDetailPage /> },
  ],
};
