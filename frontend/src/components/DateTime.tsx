/** A date in the user's time zone; the exact UTC time on hover (and focus). */
import { Tooltip } from 'antd';
import dayjs from 'dayjs';
import utc from 'dayjs/plugin/utc';
import timezone from 'dayjs/plugin/timezone';
import { useTranslation } from 'react-i18next';

dayjs.extend(utc);
dayjs.extend(timezone);

export interface DateTimeProps {
  value: string | null | undefined;
  /** IANA zone to show instead of the browser's (a deployment's own zone). */
  timeZone?: string;
}

export function formatLocal(value: string, timeZone?: string): string {
  const date = timeZone ? dayjs(value).tz(timeZone) : dayjs(value);
  return date.format('DD/MM/YYYY HH:mm:ss');
}

export function formatUtc(value: string): string {
  return `${dayjs(value).utc().format('YYYY-MM-DD HH:mm:ss')} UTC`;
}

export function DateTime({ value, timeZone }: DateTimeProps) {
  const { t } = useTranslation();
  if (!value || !dayjs(value).isValid()) return <span>{t('common.none')}</span>;
  const utcText = formatUtc(value);
  const local = formatLocal(value, timeZone);
  return (
    <Tooltip title={utcText}>
      <time dateTime={value} tabIndex={0} aria-label={`${local} (${utcText})`}>
        {local}
      </time>
    </Tooltip>
  );
}
