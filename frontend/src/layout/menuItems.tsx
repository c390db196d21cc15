/** The side menu's items: one entry per feature, keyed by its path; the features
 *  that share a section (Administration, guide 8.2) are grouped in a sub-menu. */
import type { ReactNode } from 'react';
import type { MenuProps } from 'antd';
import type { Feature, Section } from '../features/types';

type Items = NonNullable<MenuProps['items']>;

export function menuItems(
  features: Feature[],
  link: (feature: Feature) => ReactNode,
  sectionLabel: (section: Section) => string,
): Items {
  const bySection = new Map<Section, Feature[]>();
  for (const feature of features) {
    bySection.set(feature.section, [...(bySection.get(feature.section) ?? []), feature]);
  }
  return [...bySection.entries()].map(([section, members]) => {
    if (members.length === 1) {
      const [feature] = members;
      return { key: feature.path, icon: feature.icon, label: link(feature) };
    }
    const sorted = [...members].sort((a, b) => (a.order ?? 0) - (b.order ?? 0));
    return {
      key: section,
      icon: sorted[0].icon,
      label: sectionLabel(section),
      children: sorted.map((feature) => ({ key: feature.path, icon: feature.icon, label: link(feature) })),
    };
  });
}
