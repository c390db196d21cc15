/** Loading / error states of a query, the same on every screen. */
import type { ReactNode } from 'react';
import { Alert, Button, Spin } from 'antd';
import { Forbidden, NotFoundMessage } from './StatusMessage';
import { useTranslation } from 'react-i18next';
import { ApiError } from '../api/client';
import { ErrorText } from './ErrorText';

export function ErrorState({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  const { t } = useTranslation();
  if (error instanceof ApiError && error.status === 403) {
    return <Forbidden />;
  }
  if (error instanceof ApiError && error.status === 404) {
    return <NotFoundMessage />;
  }
  return (
    <Alert
      role="alert"
      type="error"
      showIcon
      message={t('errors.load_failed')}
      description={<ErrorText error={error} />}
      action={onRetry && <Button onClick={onRetry}>{t('common.retry')}</Button>}
    />
  );
}

export function Loading() {
  const { t } = useTranslation();
  return (
    <div style={{ padding: 48, textAlign: 'center' }} aria-busy="true">
      <Spin tip={t('common.loading')}>
        <div style={{ minHeight: 40 }} />
      </Spin>
    </div>
  );
}

/** Render `children(data)` once the query has data; its loading and error states otherwise. */
export function QueryState<T>({
  query,
  children,
}: {
  query: { data: T | undefined; error: unknown; isPending: boolean; refetch: () => unknown };
  children: (data: T) => ReactNode;
}) {
  if (query.isPending) return <Loading />;
  if (query.error || query.data === undefined) {
    return <ErrorState error={query.error} onRetry={() => void query.refetch()} />;
  }
  return <>{children(query.data)}</>;
}
