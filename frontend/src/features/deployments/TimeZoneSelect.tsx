/** The time zone of a schedule: a searchable select over the IANA zones. */
import { useMemo } from 'react';
import { Select } from 'antd';
import { timeZones } from './constants';

interface Props {
  id?: string;
  value?: string;
  onChange?: (value: string) => void;
  'aria-label'?: string;
}

/** "new york" finds America/New_York. */
const normalise = (text: string) => text.toLowerCase().replace(/_/g, ' ');

export function TimeZoneSelect({ id, value, onChange, ...rest }: Props) {
  const options = useMemo(() => {
    const zones = timeZones();
    if (value && !zones.includes(value)) zones.unshift(value);
    return zones.map((zone) => ({ value: zone, label: zone }));
  }, [value]);
  return (
    <Select
      id={id}
      showSearch
      value={value}
      onChange={onChange}
      options={options}
      aria-label={rest['aria-label']}
      filterOption={(input, option) => normalise(String(option?.value ?? '')).includes(normalise(input))}
      style={{ minWidth: 260 }}
      virtual
    />
  );
}
