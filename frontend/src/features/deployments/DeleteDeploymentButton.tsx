/** "Supprimer": a confirmation that names the deployment. */
import { App, Button } from 'antd';
import { DeleteOutlined } from '@ant-design/icons';
import { useTranslation } from 'react-i18next';
import { errorMessage } from '../../api/errors';
import type { Deployment } from '../../api/types';
import { useDeleteDeployment } from './api';

export function DeleteDeploymentButton({
  deployment,
  onDeleted,
}: {
  deployment: Pick<Deployment, 'id' | 'name'>;
  onDeleted?: () => void;
}) {
  const { t } = useTranslation();
  const { modal, message } = App.useApp();
  const remove = useDeleteDeployment();

  const confirm = () =>
    modal.confirm({
      title: t('deployments.delete.title'),
      content: t('deployments.delete.confirm', { name: deployment.name }),
      okText: t('common.delete'),
      okButtonProps: { danger: true },
      cancelText: t('common.cancel'),
      onOk: async () => {
        try {
          await remove.mutateAsync(deployment.id);
          void message.success(t('deployments.delete.done', { name: deployment.name }));
          onDeleted?.();
        } catch (error) {
          void message.error(errorMessage(error, t));
        }
      },
    });

  return (
    <Button danger icon={<DeleteOutlined />} onClick={confirm}>
      {t('common.delete')}
    </Button>
  );
}
