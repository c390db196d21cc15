/** A report's loading and error states; a refused period or filter is said next to it. */
import type { ReactNode } from 'react';
import { Alert } from 'antd';
import { useTranslation } from 'react-i18next';
import { ApiError } from '../../api/client';
import { ErrorState, Loading } from '../../components/QueryState';
import { DateTime } from '../../components/DateTime';
import { Typography } from 'antd';

const FIELDS: Record<string, string> = { from: 'period', to: 'period', interval: 'interval', department: 'department', region: 'region' };

export function ReportQuery<T>({
  query,
  children,
}: {
  query: { data: T | undefined; error: unknown; isPending: boolean; refetch: () => unknown };
  children: (data: T) => ReactNode;
}) {
  const { t } = useTranslation();
  if (query.isPending) return <Loading />;
  const error = query.error;
  if (error instanceof ApiError && error.code === 'validation_error') {
    const fields = Object.keys(error.fieldErrors());
    return (
      <Alert
        role="alert"
        type="error"
        showIcon
        data-testid="report-invalid"
        message={t('reports.invalid')}
        description={fields
          .map((field) => `${t(`reports.${FIELDS[field] ?? 'period'}`)} : ${t(`reports.invalid_fields.${FIELDS[field] ?? 'other'}`)}`)
          .join(' ')}
      />
    );
  }
  if (error || query.data === undefined) return <ErrorState error={error} onRetry={() => void query.refetch()} />;
  return <>{children(query.data)}</>;
}

/** The period shown as the report computed it (its bounds are aligned to the hour or day). */
export function Period({ from, to }: { from?: string | null; to?: string | null }) {
  const { t } = useTranslation();
  if (!from && !to) return <Typography.Text type="secondary">{t('reports.all_time')}</Typography.Text>;
  return (
    <Typography.Text type="secondary" data-testid="report-period">
      {t('reports.period_from')} <DateTime value={from} /> {t('reports.period_to')} <DateTime value={to} />
    </Typography.Text>
  );
}
