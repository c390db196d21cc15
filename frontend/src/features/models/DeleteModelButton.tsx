/** "Supprimer": a confirmation naming the model; a 409 lists the deployments that use it.
 *  The dialog is its own chunk: the list screen does not load Modal until it is needed. */
import { lazy, Suspense, useState, type ReactNode } from 'react';
import { Button, Tooltip } from 'antd';
import { DeleteOutlined } from '@ant-design/icons';
import { useTranslation } from 'react-i18next';
import type { Model } from '../../api/types';

const DeleteModelDialog = lazy(() => import('./DeleteModelDialog'));

interface Props {
  model: Pick<Model, 'id' | 'name' | 'version'>;
  /** An icon-only button (list rows). */
  compact?: boolean;
  icon?: ReactNode;
  onDeleted?: () => void;
}

export function DeleteModelButton({ model, compact, icon, onDeleted }: Props) {
  const { t } = useTranslation();
  // The model the dialog was opened for: a list row showing another model since
  // (rows are reused from one page to the next) does not change what it deletes.
  const [target, setTarget] = useState<Props['model'] | null>(null);
  const button = compact ? (
    <Tooltip title={t('common.delete')}>
      <Button
        type="text"
        danger
        icon={icon ?? <DeleteOutlined />}
        aria-label={`${t('common.delete')} ${model.name}`}
        onClick={() => setTarget(model)}
      />
    </Tooltip>
  ) : (
    <Button danger icon={<DeleteOutlined />} onClick={() => setTarget(model)}>
      {t('common.delete')}
    </Button>
  );
  return (
    <>
      {button}
      {target && (
        <Suspense fallback={null}>
          <DeleteModelDialog model={target} onClose={() => setTarget(null)} onDeleted={onDeleted} />
        </Suspense>
      )}
    </>
  );
}
