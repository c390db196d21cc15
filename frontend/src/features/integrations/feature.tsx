/** Intégrations (guide 3.1, 8.2; admin only): outgoing webhooks, their secret shown once,
 * « Tester » and the delivery log. */
import { lazy } from 'react';
import { ApiOutlined } from '@ant-design/icons';
import type { Feature } from '../types';

const IntegrationsListPage = lazy(() => import('./IntegrationsListPage'));
const IntegrationDetailPage = lazy(() => import('./IntegrationDetailPage'));

export const feature: Feature = {
  section: 'integrations',
  path: '/integrations',
  labelKey: 'menu.integrations',
  icon: <ApiOutlined />,
  action: 'integrations:admin',
  routes: [
    { index: true, element: <IntegrationsListPage /> },
    { path: ':integrationId', element: <IntegrationDetailPage /> },
  ],
};
