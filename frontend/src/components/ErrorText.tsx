/**
 * The message of an API error (api/errors.ts). For whoever may read the system logs
 * (an admin), the error's request id is a link to « Journaux système » filtered on it:
 * every service's lines for that request, one click away.
 */
import { useTranslation } from 'react-i18next';
import { Link } from 'react-router-dom';
import { ApiError } from '../api/client';
import { errorMessage } from '../api/errors';
import { useCan } from '../auth/AuthContext';

export function requestLogsPath(requestId: string): string {
  return `/admin/logs?request_id=${encodeURIComponent(requestId)}`;
}

export function ErrorText({ error }: { error: unknown }) {
  const { t } = useTranslation();
  const can = useCan();
  const text = errorMessage(error, t);
  const requestId = error instanceof ApiError ? error.requestId : null;
  if (!requestId || !can('logs:admin')) return <>{text}</>;
  const link = (
    <Link to={requestLogsPath(requestId)} aria-label={t('syslogs.request_logs', { id: requestId })}>
      {requestId}
    </Link>
  );
  const at = text.indexOf(requestId);
  if (at >= 0) {
    return (
      <>
        {text.slice(0, at)}
        {link}
        {text.slice(at + requestId.length)}
      </>
    );
  }
  return (
    <>
      {text} <span>{t('syslogs.request_id_label')}</span> {link}
    </>
  );
}
