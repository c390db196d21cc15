import { Tag } from 'antd';
import { useTranslation } from 'react-i18next';

const COLORS: Record<string, string> = { draft: 'default', ready: 'green', archived: 'orange' };

export function ModelStatusTag({ status }: { status: string | undefined }) {
  const { t } = useTranslation();
  if (!status) return null;
  return <Tag color={COLORS[status] ?? 'default'}>{t(`models.statuses.${status}`, { defaultValue: status })}</Tag>;
}
