/**
 * "Paramètres": the shared key/value editor, plus the parameters the runner
 * understands — each with its meaning, its allowed values and a button that adds
 * it — and a check of their values as you type.
 */
import { Button, Collapse, Space, Table, Typography } from 'antd';
import { PlusOutlined } from '@ant-design/icons';
import { useTranslation } from 'react-i18next';
import { KeyValueEditor, toParameters, type KeyValueRow } from '../../components/KeyValueEditor';
import { RUNNER_PARAMETERS, checkRunnerParameters } from './constants';

interface Props {
  id?: string;
  value?: KeyValueRow[];
  onChange?: (rows: KeyValueRow[]) => void;
}

export function ParametersField({ id, value = [], onChange }: Props) {
  const { t } = useTranslation();
  const problems = checkRunnerParameters(toParameters(value));
  const present = new Set(value.map((row) => row.key.trim()));

  return (
    <div id={id}>
      <KeyValueEditor value={value} onChange={(rows) => onChange?.(rows)} keySuggestions={RUNNER_PARAMETERS.map((p) => p.name)} />
      {Object.entries(problems).map(([name, problem]) => (
        <Typography.Text key={name} type="danger" role="alert" style={{ display: 'block', marginTop: 4 }}>
          {t('deployments.params.invalid', {
            name,
            problem: t(`deployments.params.problems.${problem}`),
            allowed: t(`deployments.runner_params.${name}.values`),
          })}
        </Typography.Text>
      ))}
      <Collapse
        size="small"
        style={{ marginTop: 8 }}
        items={[
          {
            key: 'runner',
            label: t('deployments.params.known_title'),
            children: (
              <Table
                size="small"
                pagination={false}
                rowKey="name"
                data-testid="runner-parameters"
                dataSource={RUNNER_PARAMETERS}
                columns={[
                  { title: t('common.name'), dataIndex: 'name', render: (name: string) => <Typography.Text code>{name}</Typography.Text> },
                  { title: t('deployments.params.meaning'), key: 'meaning', render: (_, p) => t(`deployments.runner_params.${p.name}.meaning`) },
                  { title: t('deployments.params.values'), key: 'values', render: (_, p) => t(`deployments.runner_params.${p.name}.values`) },
                  {
                    title: '',
                    key: 'add',
                    render: (_, p) => (
                      <Space>
                        <Button
                          size="small"
                          icon={<PlusOutlined />}
                          disabled={present.has(p.name)}
                          aria-label={t('deployments.params.add_named', { name: p.name })}
                          onClick={() => onChange?.([...value.filter((row) => row.key.trim()), { key: p.name, value: p.example }])}
                        >
                          {t('deployments.params.add_short')}
                        </Button>
                      </Space>
                    ),
                  },
                ]}
              />
            ),
          },
        ]}
      />
    </div>
  );
}

/** The rows of the editor from a saved deployment's parameters. */
export function toRows(parameters: Record<string, unknown> | undefined): KeyValueRow[] {
  return Object.entries(parameters ?? {}).map(([key, value]) => ({
    key,
    value: typeof value === 'string' ? value : JSON.stringify(value),
  }));
}
