/** A 403 / 404 said clearly (never a blank page); the illustration is lazy-loaded. */
import { lazy, Suspense } from 'react';
import { useTranslation } from 'react-i18next';
import type { StatusPageProps } from './StatusPage';

const StatusPage = lazy(() => import('./StatusPage'));

export function StatusMessage(props: StatusPageProps) {
  return (
    <div role="alert">
      <Suspense
        fallback={
          <div style={{ padding: 48, textAlign: 'center' }}>
            <h2>{props.title}</h2>
            <p>{props.subTitle}</p>
          </div>
        }
      >
        <StatusPage {...props} />
      </Suspense>
    </div>
  );
}

export function Forbidden() {
  const { t } = useTranslation();
  return <StatusMessage status="403" title={t('errors.forbidden_title')} subTitle={t('errors.forbidden')} />;
}

export function NotFoundMessage({ page }: { page?: boolean }) {
  const { t } = useTranslation();
  return (
    <StatusMessage
      status="404"
      title={t('errors.not_found_title')}
      subTitle={page ? t('errors.page_not_found') : t('errors.not_found')}
    />
  );
}
