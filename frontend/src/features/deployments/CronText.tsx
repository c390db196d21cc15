/** A cron expression and its meaning in words (French by default). */
import { Space, Tooltip, Typography } from 'antd';
import { useTranslation } from 'react-i18next';
import { describeCron } from '../../i18n/cron';

export function CronText({ expression, inline }: { expression: string | null | undefined; inline?: boolean }) {
  const { t, i18n } = useTranslation();
  if (!expression) return <Typography.Text type="secondary">{t('deployments.schedule.none_short')}</Typography.Text>;
  const words = describeCron(expression, i18n.language);
  if (inline) {
    return (
      <Tooltip title={words ?? undefined}>
        <Typography.Text code tabIndex={0} aria-label={words ? `${expression} — ${words}` : expression}>
          {expression}
        </Typography.Text>
      </Tooltip>
    );
  }
  return (
    <Space direction="vertical" size={0}>
      <Typography.Text code>{expression}</Typography.Text>
      {words && <Typography.Text data-testid="cron-words">{words}</Typography.Text>}
    </Space>
  );
}
