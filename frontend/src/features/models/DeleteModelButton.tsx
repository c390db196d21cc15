/** "Supprimer": a confirmation naming the model; a 409 lists the deployments that use it. */
import type { ReactNode } from 'react';
import { App, Button, Tooltip, Typography } from 'antd';
import { DeleteOutlined } from '@ant-design/icons';
import { Link } from 'react-router-dom';
import { useTranslation } from 'react-i18next';
import { ApiError } from '../../api/client';
import { errorMessage } from '../../api/errors';
import type { Model } from '../../api/types';
import { useDeleteModel } from './api';

interface Props {
  model: Pick<Model, 'id' | 'name' | 'version'>;
  /** An icon-only button (list rows). */
  compact?: boolean;
  icon?: ReactNode;
  onDeleted?: () => void;
}

export function DeleteModelButton({ model, compact, icon, onDeleted }: Props) {
  const { t } = useTranslation();
  const { modal, message } = App.useApp();
  const remove = useDeleteModel();
  const label = `${model.name} ${model.version ?? ''}`.trim();

  const showConflict = (error: ApiError) => {
    const deployments = (error.details.deployments as { id: string; name?: string }[] | undefined) ?? [];
    modal.error({
      title: t('models.delete.in_use_title'),
      content: (
        <div>
          <Typography.Paragraph>{t('models.delete.in_use', { name: label })}</Typography.Paragraph>
          <ul data-testid="blocking-deployments">
            {deployments.map((deployment) => (
              <li key={deployment.id}>
                <Link to={`/deployments/${deployment.id}`}>{deployment.name ?? deployment.id}</Link>
              </li>
            ))}
          </ul>
        </div>
      ),
    });
  };

  const confirm = () =>
    modal.confirm({
      title: t('models.delete.title'),
      content: t('models.delete.confirm', { name: label }),
      okText: t('common.delete'),
      okButtonProps: { danger: true },
      cancelText: t('common.cancel'),
      onOk: async () => {
        try {
          await remove.mutateAsync(model.id);
          void message.success(t('models.delete.done', { name: label }));
          onDeleted?.();
        } catch (error) {
          if (error instanceof ApiError && error.status === 409) showConflict(error);
          else void message.error(errorMessage(error, t));
        }
      },
    });

  if (compact) {
    return (
      <Tooltip title={t('common.delete')}>
        <Button
          type="text"
          danger
          icon={icon ?? <DeleteOutlined />}
          aria-label={`${t('common.delete')} ${model.name}`}
          onClick={confirm}
        />
      </Tooltip>
    );
  }
  return (
    <Button danger icon={<DeleteOutlined />} onClick={confirm}>
      {t('common.delete')}
    </Button>
  );
}
