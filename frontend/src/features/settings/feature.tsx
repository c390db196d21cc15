/** Paramètres globaux (guide 8.2; admin only): the platform settings the services follow
 * without a restart. */
import { lazy } from 'react';
import { SettingOutlined } from '@ant-design/icons';
import type { Feature } from '../types';

const SettingsPage = lazy(() => import('./SettingsPage'));

export const feature: Feature = {
  section: 'administration',
  order: 1,
  path: '/admin/settings',
  labelKey: 'menu.settings',
  icon: <SettingOutlined />,
  action: 'settings:admin',
  routes: [{ index: true, element: <SettingsPage /> }],
};
