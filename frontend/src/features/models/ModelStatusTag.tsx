import { Tag } from 'antd';
import { useTranslation } from 'react-i18next';

/** Text / background / border with a WCAG AA contrast (antd's preset green is 3.4:1). */
const STYLES: Record<string, { color: string; background: string; borderColor: string }> = {
  draft: { color: 'rgba(0, 0, 0, 0.85)', background: '#fafafa', borderColor: '#d9d9d9' },
  ready: { color: '#135200', background: '#f6ffed', borderColor: '#b7eb8f' },
  archived: { color: '#873800', background: '#fff7e6', borderColor: '#ffd591' },
};

export function ModelStatusTag({ status }: { status: string | undefined }) {
  const { t } = useTranslation();
  if (!status) return null;
  return <Tag style={STYLES[status] ?? STYLES.draft}>{t(`models.statuses.${status}`, { defaultValue: status })}</Tag>;
}
