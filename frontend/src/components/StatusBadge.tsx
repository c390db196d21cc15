/** The status of an execution or a deployment as a coloured badge, in words. */
import { Badge } from 'antd';
import { useTranslation } from 'react-i18next';

const STATES: Record<string, 'success' | 'processing' | 'error' | 'default' | 'warning'> = {
  queued: 'default',
  running: 'processing',
  succeeded: 'success',
  failed: 'error',
  cancelled: 'warning',
  timed_out: 'error',
  active: 'success',
  inactive: 'default',
};

export function StatusBadge({ status }: { status: string | null | undefined }) {
  const { t } = useTranslation();
  if (!status) return null;
  return <Badge status={STATES[status] ?? 'default'} text={t(`statuses.${status}`, { defaultValue: status })} />;
}
