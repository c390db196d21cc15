/** "Modèle": a select over the models, searched on the server as you type. */
import { useState } from 'react';
import { Select } from 'antd';
import { useTranslation } from 'react-i18next';
import { useDebounced } from '../../components/useDebounced';
import { useModelChoices, useModelSummary } from './api';

interface Props {
  id?: string;
  value?: string;
  onChange?: (value: string | undefined) => void;
  disabled?: boolean;
  /** Only models that can be deployed (status ready). */
  readyOnly?: boolean;
  allowClear?: boolean;
  placeholder?: string;
  style?: React.CSSProperties;
  'aria-label'?: string;
}

export function ModelSelect({ id, value, onChange, disabled, readyOnly = false, allowClear, placeholder, style, ...rest }: Props) {
  const { t } = useTranslation();
  const [search, setSearch] = useState('');
  const debounced = useDebounced(search, 250);
  const choices = useModelChoices(debounced, readyOnly);
  const current = useModelSummary(value);

  const options = (choices.data?.items ?? []).map((model) => ({
    value: model.id,
    label: `${model.name} ${model.version ?? ''}`.trim(),
  }));
  if (value && !options.some((option) => option.value === value)) {
    const model = current.data;
    options.unshift({ value, label: model ? `${model.name} ${model.version ?? ''}`.trim() : value });
  }

  return (
    <Select
      id={id}
      showSearch
      allowClear={allowClear}
      disabled={disabled}
      value={value}
      style={style}
      placeholder={placeholder ?? t('deployments.form.model_placeholder')}
      aria-label={rest['aria-label']}
      filterOption={false}
      onSearch={setSearch}
      onChange={(next) => {
        setSearch('');
        onChange?.(next);
      }}
      loading={choices.isFetching}
      options={options}
      notFoundContent={choices.isFetching ? t('common.loading') : t('deployments.form.no_model')}
    />
  );
}
