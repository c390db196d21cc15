/** Journaux système (guide 8.2, admin only): every service's log lines, searched by
 * service, level, text, request id and period, with a live follow. */
import { lazy } from 'react';
import { FileSearchOutlined } from '@ant-design/icons';
import type { Feature } from '../types';

const SystemLogsPage = lazy(() => import('./SystemLogsPage'));

export const feature: Feature = {
  section: 'administration',
  order: 3,
  path: '/admin/logs',
  labelKey: 'menu.syslogs',
  icon: <FileSearchOutlined />,
  action: 'logs:admin',
  routes: [{ index: true, element: <SystemLogsPage /> }],
};
