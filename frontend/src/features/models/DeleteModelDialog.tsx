/** The confirmation of "Supprimer", then (409) the deployments that still use the model. */
import { useState } from 'react';
import { Alert, Button, Modal } from 'antd';
import { ExclamationCircleFilled } from '@ant-design/icons';
import { Link } from 'react-router-dom';
import { useTranslation } from 'react-i18next';
import { ApiError } from '../../api/client';
import { ErrorText } from '../../components/ErrorText';
import type { Model } from '../../api/types';
import { hasFeature } from '../registry';
import { useDeleteModel } from './api';

interface Props {
  model: Pick<Model, 'id' | 'name' | 'version'>;
  onClose: () => void;
  onDeleted?: () => void;
}

type Blocking = { id: string; name?: string }[];

export default function DeleteModelDialog({ model, onClose, onDeleted }: Props) {
  const { t } = useTranslation();
  const remove = useDeleteModel();
  const [blocking, setBlocking] = useState<Blocking | null>(null);
  const [error, setError] = useState<unknown>(null);
  const label = `${model.name} ${model.version ?? ''}`.trim();

  const confirm = async () => {
    setError(null);
    try {
      await remove.mutateAsync(model.id);
      onClose();
      onDeleted?.();
    } catch (caught) {
      if (caught instanceof ApiError && caught.status === 409) {
        setBlocking((caught.details.deployments as Blocking | undefined) ?? []);
      } else setError(caught);
    }
  };

  if (blocking) {
    return (
      <Modal
        open
        title={t('models.delete.in_use_title')}
        onCancel={onClose}
        footer={<Button onClick={onClose}>{t('common.close')}</Button>}
      >
        <p>{t('models.delete.in_use', { name: label })}</p>
        <ul data-testid="blocking-deployments">
          {blocking.map((deployment) => (
            <li key={deployment.id}>
              {hasFeature('deployments') ? (
                <Link to={`/deployments/${deployment.id}`}>{deployment.name ?? deployment.id}</Link>
              ) : (
                deployment.name ?? deployment.id
              )}
            </li>
          ))}
        </ul>
      </Modal>
    );
  }
  return (
    <Modal
      open
      title={
        <span>
          <ExclamationCircleFilled style={{ color: '#d46b08', marginRight: 8 }} aria-hidden />
          {t('models.delete.title')}
        </span>
      }
      okText={t('common.delete')}
      okButtonProps={{ danger: true, loading: remove.isPending }}
      cancelText={t('common.cancel')}
      onOk={() => void confirm()}
      onCancel={onClose}
    >
      <p>{t('models.delete.confirm', { name: label })}</p>
      {error != null && <Alert type="error" showIcon role="alert" message={<ErrorText error={error} />} />}
    </Modal>
  );
}
