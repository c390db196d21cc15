/** The confirmation of "Supprimer", naming the deployment; an error is said in the dialog. */
import { useState } from 'react';
import { Alert, Modal } from 'antd';
import { ExclamationCircleFilled } from '@ant-design/icons';
import { useTranslation } from 'react-i18next';
import { ErrorText } from '../../components/ErrorText';
import type { Deployment } from '../../api/types';
import { useDeleteDeployment } from './api';

interface Props {
  deployment: Pick<Deployment, 'id' | 'name'>;
  onClose: () => void;
  onDeleted?: () => void;
}

export default function DeleteDeploymentDialog({ deployment, onClose, onDeleted }: Props) {
  const { t } = useTranslation();
  const remove = useDeleteDeployment();
  const [error, setError] = useState<unknown>(null);

  const confirm = async () => {
    setError(null);
    try {
      await remove.mutateAsync(deployment.id);
      onClose();
      onDeleted?.();
    } catch (caught) {
      setError(caught);
    }
  };

  return (
    <Modal
      open
      title={
        <span>
          <ExclamationCircleFilled style={{ color: '#d46b08', marginRight: 8 }} aria-hidden />
          {t('deployments.delete.title')}
        </span>
      }
      okText={t('common.delete')}
      okButtonProps={{ danger: true, loading: remove.isPending }}
      cancelText={t('common.cancel')}
      onOk={() => void confirm()}
      onCancel={onClose}
    >
      <p>{t('deployments.delete.confirm', { name: deployment.name })}</p>
      {error != null && <Alert type="error" showIcon role="alert" message={<ErrorText error={error} />} />}
    </Modal>
  );
}
