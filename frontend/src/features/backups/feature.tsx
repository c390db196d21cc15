/** Sauvegarde et restauration (guide 8.2, admin only): backups listed, made, downloaded,
 * restored from a listed backup or an uploaded file. */
import { lazy } from 'react';
import { CloudServerOutlined } from '@ant-design/icons';
import type { Feature } from '../types';

const BackupsPage = lazy(() => import('./BackupsPage'));

export const feature: Feature = {
  section: 'administration',
  order: 4,
  path: '/admin/backups',
  labelKey: 'menu.backups',
  icon: <CloudServerOutlined />,
  action: 'backups:admin',
  routes: [{ index: true, element: <BackupsPage /> }],
};
