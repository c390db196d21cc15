/** "Supprimer": a confirmation that names the deployment (the dialog is its own chunk). */
import { lazy, Suspense, useState } from 'react';
import { Button } from 'antd';
import { DeleteOutlined } from '@ant-design/icons';
import { useTranslation } from 'react-i18next';
import type { Deployment } from '../../api/types';

const DeleteDeploymentDialog = lazy(() => import('./DeleteDeploymentDialog'));

export function DeleteDeploymentButton({
  deployment,
  onDeleted,
}: {
  deployment: Pick<Deployment, 'id' | 'name'>;
  onDeleted?: () => void;
}) {
  const { t } = useTranslation();
  const [open, setOpen] = useState(false);
  return (
    <>
      <Button danger icon={<DeleteOutlined />} onClick={() => setOpen(true)}>
        {t('common.delete')}
      </Button>
      {open && (
        <Suspense fallback={null}>
          <DeleteDeploymentDialog deployment={deployment} onClose={() => setOpen(false)} onDeleted={onDeleted} />
        </Suspense>
      )}
    </>
  );
}
