/** Déploiements (guide 5): list, creation (also from a model's "Déployer"), detail, edit. */
import { lazy } from 'react';
import { CloudServerOutlined } from '@ant-design/icons';
import type { Feature } from '../types';
import { ActionGuard } from '../../components/ActionGuard';

const DeploymentsListPage = lazy(() => import('./DeploymentsListPage'));
const DeploymentFormPage = lazy(() => import('./DeploymentFormPage'));
const DeploymentDetailPage = lazy(() => import('./DeploymentDetailPage'));

export const feature: Feature = {
  section: 'deployments',
  path: '/deployments',
  labelKey: 'menu.deployments',
  icon: <CloudServerOutlined />,
  action: 'deployments:read',
  routes: [
    { index: true, element: <DeploymentsListPage /> },
    {
      path: 'new',
      element: (
        <ActionGuard action="deployments:write">
          <DeploymentFormPage />
        </ActionGuard>
      ),
    },
    { path: ':deploymentId', element: <DeploymentDetailPage /> },
    {
      path: ':deploymentId/edit',
      element: (
        <ActionGuard action="deployments:write">
          <DeploymentFormPage />
        </ActionGuard>
      ),
    },
  ],
};
