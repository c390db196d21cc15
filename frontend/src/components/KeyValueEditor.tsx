/** Parameters as key / value rows; values are read as JSON when they parse (numbers, booleans). */
import { Button, Input, Space } from 'antd';
import { DeleteOutlined, PlusOutlined } from '@ant-design/icons';
import { useTranslation } from 'react-i18next';

export interface KeyValueRow {
  key: string;
  value: string;
}

export function parseValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function toParameters(rows: KeyValueRow[]): Record<string, unknown> {
  return Object.fromEntries(rows.filter((row) => row.key.trim()).map((row) => [row.key.trim(), parseValue(row.value)]));
}

export function KeyValueEditor({
  value,
  onChange,
  keySuggestions,
}: {
  value: KeyValueRow[];
  onChange: (rows: KeyValueRow[]) => void;
  keySuggestions?: string[];
}) {
  const { t } = useTranslation();
  const set = (index: number, patch: Partial<KeyValueRow>) =>
    onChange(value.map((row, i) => (i === index ? { ...row, ...patch } : row)));
  return (
    <Space direction="vertical" style={{ width: '100%' }}>
      {value.map((row, index) => (
        <Space key={index}>
          <Input
            aria-label={t('params.key', { n: index + 1 })}
            placeholder={t('params.key_placeholder')}
            value={row.key}
            list={keySuggestions ? 'param-keys' : undefined}
            onChange={(event) => set(index, { key: event.target.value })}
          />
          <Input
            aria-label={t('params.value', { n: index + 1 })}
            placeholder={t('params.value_placeholder')}
            value={row.value}
            onChange={(event) => set(index, { value: event.target.value })}
          />
          <Button
            type="text"
            icon={<DeleteOutlined />}
            aria-label={t('params.remove', { n: index + 1 })}
            onClick={() => onChange(value.filter((_, i) => i !== index))}
          />
        </Space>
      ))}
      {keySuggestions && (
        <datalist id="param-keys">
          {keySuggestions.map((key) => (
            <option key={key} value={key} />
          ))}
        </datalist>
      )}
      <Button icon={<PlusOutlined />} onClick={() => onChange([...value, { key: '', value: '' }])}>
        {t('params.add')}
      </Button>
    </Space>
  );
}
