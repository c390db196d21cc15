/** "Démarrer" / "Arrêter" a deployment (a row icon in the list, a button on its page). */
import { Button, Tooltip, message } from 'antd';
import { PauseCircleOutlined, PlayCircleOutlined } from '@ant-design/icons';
import { useTranslation } from 'react-i18next';
import { ApiError } from '../../api/client';
import { errorMessage } from '../../api/errors';
import type { Deployment } from '../../api/types';
import { useStartStop } from './api';

interface Props {
  deployment: Pick<Deployment, 'id' | 'name' | 'status'>;
  /** An icon-only button (list rows). */
  compact?: boolean;
}

export function StartStopButton({ deployment, compact }: Props) {
  const { t } = useTranslation();
  const mutation = useStartStop();
  const active = deployment.status === 'active';
  const action = active ? 'stop' : 'start';
  const label = t(`deployments.actions.${action}`);

  const onClick = async () => {
    try {
      await mutation.mutateAsync({ id: deployment.id, action });
      void message.success(t(`deployments.actions.${action}_done`, { name: deployment.name }));
    } catch (error) {
      // 409: the model was deleted or is not ready; say so in words.
      const text =
        error instanceof ApiError && error.status === 409
          ? t('deployments.actions.start_conflict', { reason: error.message })
          : errorMessage(error, t);
      void message.error(text);
    }
  };

  const icon = active ? <PauseCircleOutlined /> : <PlayCircleOutlined />;
  if (compact) {
    return (
      <Tooltip title={label}>
        <Button
          type="text"
          icon={icon}
          loading={mutation.isPending}
          aria-label={`${label} ${deployment.name}`}
          onClick={() => void onClick()}
        />
      </Tooltip>
    );
  }
  return (
    <Button icon={icon} loading={mutation.isPending} onClick={() => void onClick()}>
      {label}
    </Button>
  );
}
