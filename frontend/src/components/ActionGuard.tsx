/** A route only some roles may open (e.g. a creation form): a clear 403 for the others. */
import type { ReactNode } from 'react';
import { Result } from 'antd';
import { useTranslation } from 'react-i18next';
import { useCan } from '../auth/AuthContext';
import type { Action } from '../auth/can';

export function ActionGuard({ action, children }: { action: Action; children: ReactNode }) {
  const { t } = useTranslation();
  const can = useCan();
  if (!can(action)) {
    return <Result status="403" title={t('errors.forbidden_title')} subTitle={t('errors.forbidden')} />;
  }
  return <>{children}</>;
}
