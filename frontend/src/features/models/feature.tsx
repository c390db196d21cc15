/** Modèles (guide 4): list, creation, detail, edit. */
import { lazy } from 'react';
import { AppstoreOutlined } from '@ant-design/icons';
import type { Feature } from '../types';
import { ActionGuard } from '../../components/ActionGuard';

const ModelsListPage = lazy(() => import('./ModelsListPage'));
const ModelFormPage = lazy(() => import('./ModelFormPage'));
const ModelDetailPage = lazy(() => import('./ModelDetailPage'));

export const feature: Feature = {
  section: 'models',
  path: '/models',
  labelKey: 'menu.models',
  icon: <AppstoreOutlined />,
  action: 'models:read',
  routes: [
    { index: true, element: <ModelsListPage /> },
    {
      path: 'new',
      element: (
        <ActionGuard action="models:write">
          <ModelFormPage />
        </ActionGuard>
      ),
    },
    { path: ':modelId', element: <ModelDetailPage /> },
    {
      path: ':modelId/edit',
      element: (
        <ActionGuard action="models:write">
          <ModelFormPage />
        </ActionGuard>
      ),
    },
  ],
};
