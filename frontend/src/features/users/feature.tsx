/** Utilisateurs (guide 8.1, admin only): list, creation, edit, (de)activation, passwords. */
import { lazy } from 'react';
import { TeamOutlined } from '@ant-design/icons';
import type { Feature } from '../types';

const UsersListPage = lazy(() => import('./UsersListPage'));

export const feature: Feature = {
  section: 'users',
  path: '/users',
  labelKey: 'menu.users',
  icon: <TeamOutlined />,
  action: 'users:admin',
  routes: [{ index: true, element: <UsersListPage /> }],
};
