/** "Service indisponible" while a backing service answers 503. */
import { useSyncExternalStore } from 'react';
import { Alert } from 'antd';
import { useTranslation } from 'react-i18next';
import { serviceStatus } from '../api/client';

export function ServiceBanner() {
  const { t } = useTranslation();
  const unavailable = useSyncExternalStore(serviceStatus.subscribe, () => serviceStatus.unavailable);
  if (!unavailable) return null;
  return (
    <Alert
      role="alert"
      type="warning"
      showIcon
      banner
      style={{ marginBottom: 16 }}
      message={t('errors.banner_unavailable')}
      description={t('errors.banner_unavailable_help')}
      closable
      onClose={() => serviceStatus.set(false)}
    />
  );
}
