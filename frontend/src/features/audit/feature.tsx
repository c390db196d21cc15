/** Journal d'audit (issue 9; admin only): who changed what, when and from where. Read only. */
import { lazy } from 'react';
import { AuditOutlined } from '@ant-design/icons';
import type { Feature } from '../types';

const AuditPage = lazy(() => import('./AuditPage'));

export const feature: Feature = {
  section: 'administration',
  order: 2,
  path: '/admin/audit',
  labelKey: 'menu.audit',
  icon: <AuditOutlined />,
  action: 'admin',
  routes: [{ index: true, element: <AuditPage /> }],
};
